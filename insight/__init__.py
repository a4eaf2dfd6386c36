"""Programme insight: reports, charts, the workforce forecast and where to grow.

Reads the record (journeys, checks, the event log); never writes it. Every figure is counts and
journey references only: no names, no contact details, no special-category data.
"""
