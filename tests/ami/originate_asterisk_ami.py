"""An AMI application as people write them with asterisk-ami (PyPI), against the media core.

Logs in, pings, originates an alert call that the carrier's sipp answers, waits for the
OriginateResponse and the channel's Hangup event, logs off. Prints one line per step; exits
non-zero on any surprise. Usage: originate_asterisk_ami.py HOST PORT
"""
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

    client = AMIClient(address=host, port=port, timeout=10)
    client.add_event_listener(on_event)
    client.connect()
    login = client.login(username="alertapp", secret="s3cret").response
    print("login", login.status, flush=True)
    assert login.status == "Success", login
    pong = client.send_action(SimpleAction("Ping")).response
    print("ping", pong.status, pong.keys.get("Ping"), flush=True)
    assert pong.status == "Success" and pong.keys.get("Ping") == "Pong", pong
    originate = SimpleAction(
        "Originate",
        Channel="PJSIP/0744100@carrier-out",
        Context="alert-out",
        Exten="s",
        Priority=1,
        Timeout=10000,
        Async="true",
    )
    queued = client.send_action(originate).response
    print("originate", queued.status, flush=True)
    assert queued.status == "Success", queued

    def named(name):
        return [e for e in events if e.name == name]

    with seen:
        ok = seen.wait_for(lambda: named("OriginateResponse") and named("Hangup"), timeout=30)
    assert ok, [e.name for e in events]
    reply = named("OriginateResponse")[0]
    print("originateresponse", reply.keys.get("Response"), reply.keys.get("Reason"), flush=True)
    assert reply.keys.get("Response") == "Success" and reply.keys.get("Reason") == "4", reply
    hangup = named("Hangup")[0]
    print("hangup", hangup.keys.get("Cause"), hangup.keys.get("Cause-txt"), flush=True)
    bye = client.logoff().response
    print("logoff", bye.status, flush=True)
    assert bye.status == "Goodbye", bye
    client.disconnect()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
