from tests.integration.test_dispatch import *  # noqa

def test_probe(uow, world, smtp):
    good1, m1 = add_message(uow, world)
    bad, _ = add_message(uow, world)
    good2, m2 = add_message(uow, world)
    with uow:
        r = uow.session.get(OutboxMessage, bad)
        r.context = {**r.context, "team_name": "old field"}
        uow.commit()
    try:
        res = run(uow, smtp, Clock(), concurrency=2)
        print("result", res)
    except Exception as e:
        print("RAISED", type(e).__name__, str(e)[:200])
    print([(r.id, r.status, r.attempts, r.last_error) for r in rows(uow)])
    print(smtp.deliveries)
