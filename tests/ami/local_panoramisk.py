"""A Local channel originate as integrations send it, written with panoramisk (PyPI): the
Local extension answers, waits 3 s and hangs up; the originate's application waits 5 s.
As in Asterisk 22: OriginateResponse Success (Reason 4) on ;1, both halves listed while the
call lasts, a Hangup for each after. Usage: local_panoramisk.py HOST PORT."""
import asyncio
import sys

from panoramisk import Manager


async def main(host, port):
    manager = Manager(host=host, port=port, username="alertapp", secret="s3cret", ping_delay=3600)
    hangups = []
    manager.register_event("Hangup", lambda _m, msg: hangups.append(msg.Channel))
    await manager.connect()
    replies = await asyncio.wait_for(
        manager.send_action(
            {
                "Action": "Originate",
                "Channel": "Local/200@local-test",
                "Application": "Wait",
                "Data": "5",
                "Timeout": "10000",
                "Async": "true",
            }
        ),
        30,
    )
    kinds = [(r.Response, r.Event, r.Reason, r.Channel) for r in replies]
    print("originate", kinds, flush=True)
    assert replies[0].Response == "Success", kinds
    response = replies[-1]
    assert response.Event == "OriginateResponse" and response.Response == "Success", kinds
    assert response.Reason == "4" and response.Channel.endswith(";1"), kinds
    listing = await manager.send_action({"Action": "CoreShowChannels"})
    names = sorted(m.Channel for m in listing if m.Event == "CoreShowChannel")
    print("channels", names, flush=True)
    assert len(names) == 2 and names[0].endswith(";1") and names[1].endswith(";2"), names
    assert names[0].startswith("Local/200@local-test-"), names
    for _ in range(100):  # 10 s
        if len(hangups) >= 2:
            break
        await asyncio.sleep(0.1)
    print("hangups", sorted(hangups), flush=True)
    assert sorted(hangups) == names, hangups
    listing = await manager.send_action({"Action": "CoreShowChannels"})
    assert listing[-1].ListItems == "0", listing[-1]
    manager.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
