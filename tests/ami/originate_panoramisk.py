"""An AMI application as people write them with panoramisk (PyPI), against the media core.

Logs in, pings, originates an alert call that the carrier's sipp answers, waits for the
OriginateResponse, checks CoreStatus, logs off. Prints one line per step; exits non-zero
on any surprise. Usage: originate_panoramisk.py HOST PORT
"""
import asyncio
import sys

from panoramisk import Manager


async def main(host, port):
    events = []
    manager = Manager(host=host, port=port, username="alertapp", secret="s3cret", ping_delay=3600)
    manager.register_event("*", lambda _m, msg: events.append(msg.Event))
    await manager.connect()
    pong = await manager.send_action({"Action": "Ping"})
    print("ping", pong.Response, pong.Ping, flush=True)
    assert pong.Response == "Success" and pong.Ping == "Pong", pong
    replies = await asyncio.wait_for(
        manager.send_action(
            {
                "Action": "Originate",
                "Channel": "PJSIP/0744100@carrier-out",
                "Context": "alert-out",
                "Exten": "s",
                "Priority": "1",
                "Timeout": "10000",
                "Async": "true",
                "Variable": "ALERT=alert",
            }
        ),
        30,
    )
    kinds = [(r.Response, r.Event, r.Reason) for r in replies]
    print("originate", kinds, flush=True)
    assert replies[0].Response == "Success", kinds
    assert replies[-1].Event == "OriginateResponse" and replies[-1].Reason == "4", kinds
    # The answered call is listed, and hanging it up by name works.
    listing = await manager.send_action({"Action": "CoreShowChannels"})
    channels = [m.Channel for m in listing if m.Event == "CoreShowChannel"]
    print("channels", channels, listing[-1].ListItems, flush=True)
    assert len(channels) == 1 and channels[0].startswith("PJSIP/carrier-out-"), channels
    assert listing[-1].Event == "CoreShowChannelsComplete" and listing[-1].ListItems == "1", listing[-1]
    hung = await manager.send_action({"Action": "Hangup", "Channel": channels[0]})
    print("hangup", hung.Response, hung.Message, flush=True)
    assert hung.Response == "Success", hung
    gone = await manager.send_action({"Action": "Hangup", "Channel": "PJSIP/nobody-00000000"})
    assert gone.Response == "Error" and gone.Message == "No such channel", gone
    status = await manager.send_action({"Action": "CoreStatus"})
    print("corestatus", status.CoreCurrentCalls, status.CoreProcessedCalls, flush=True)
    assert int(status.CoreProcessedCalls) >= 1, status
    bad = await manager.send_action({"Action": "Frobnicate"})
    print("unknown", bad.Response, bad.Message, flush=True)
    assert bad.Response == "Error" and bad.Message.startswith("Invalid/unknown command"), bad
    # The originated channel's life as Asterisk reports it: created, up, hung up.
    for _ in range(100):
        if "Hangup" in events:
            break
        await asyncio.sleep(0.1)
    print("events", events, flush=True)
    assert "FullyBooted" in events, events
    for name in ("Newchannel", "Newstate", "Hangup"):
        assert name in events, (name, events)
    assert events.index("Newchannel") < events.index("Newstate") < events.index("Hangup"), events
    manager.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
