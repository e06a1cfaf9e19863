"""The Local channel originate of local_panoramisk.py, written with asterisk-ami (PyPI):
OriginateResponse Success (Reason 4) on ;1, both halves listed, a Hangup for each.
Usage: local_asterisk_ami.py HOST PORT."""
import sys
import threading

from asterisk.ami import AMIClient, SimpleAction


def main(host, port):
    events = []
    seen = threading.Condition()

    def on_event(event, **_kwargs):
        with seen:
            events.append(event)
            seen.notify_all()

    def named(name):
        return [e for e in events if e.name == name]

    client = AMIClient(address=host, port=port, timeout=10)
    client.add_event_listener(on_event)
    client.connect()
    assert client.login(username="alertapp", secret="s3cret").response.status == "Success"
    queued = client.send_action(
        SimpleAction(
            "Originate",
            Channel="Local/200@local-test",
            Application="Wait",
            Data="5",
            Timeout=10000,
            Async="true",
        )
    ).response
    assert queued.status == "Success", queued
    with seen:
        assert seen.wait_for(lambda: named("OriginateResponse"), timeout=10), [e.name for e in events]
    reply = named("OriginateResponse")[0].keys
    print("originateresponse", reply.get("Response"), reply.get("Reason"), reply.get("Channel"), flush=True)
    assert reply.get("Response") == "Success" and reply.get("Reason") == "4", reply
    assert reply.get("Channel", "").endswith(";1"), reply
    client.send_action(SimpleAction("CoreShowChannels")).response
    with seen:
        assert seen.wait_for(lambda: named("CoreShowChannelsComplete"), timeout=5)
    names = sorted(e.keys.get("Channel") for e in named("CoreShowChannel"))
    print("channels", names, flush=True)
    assert len(names) == 2 and names[0].endswith(";1") and names[1].endswith(";2"), names
    with seen:
        assert seen.wait_for(lambda: len(named("Hangup")) >= 2, timeout=10), [e.name for e in events]
    gone = sorted(e.keys.get("Channel") for e in named("Hangup"))
    print("hangups", gone, flush=True)
    assert gone == names, gone
    client.logoff()
    client.disconnect()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
