"""What an integration's housekeeping sends, written with panoramisk (PyPI), against the
media core: CLI commands through Command, the PJSIP listings, AstDB, a UserEvent seen by a
second client, and a reload that names the file that did not load.

Usage: admin_panoramisk.py HOST PORT. Prints one line per step; exits non-zero on any
surprise. The test has broken extensions.conf before it runs (see mediacore_lab.rs).
"""
import asyncio
import sys

from panoramisk import Manager


def lines(reply):
    """The Output lines of a Command answer (panoramisk gives a list when there are several)."""
    out = reply.get("Output", [])
    return out if isinstance(out, list) else [out]


async def main(host, port):
    def manager():
        return Manager(host=host, port=port, username="admin", secret="s3cret", ping_delay=3600)

    app, listener = manager(), manager()
    seen = asyncio.get_running_loop().create_future()
    listener.register_event(
        "UserEvent", lambda _m, msg: seen.done() or seen.set_result(msg)
    )
    await app.connect()
    await listener.connect()

    version = await app.send_action({"Action": "Command", "Command": "core show version"})
    print("version", version.Response, lines(version), flush=True)
    assert version.Response == "Success" and "Allerta" in lines(version)[0], version

    unknown = await app.send_action({"Action": "Command", "Command": "core frobnicate"})
    print("unknown", unknown.Response, lines(unknown), flush=True)
    assert unknown.Response == "Error" and lines(unknown)[0].startswith("No such command"), unknown

    regs = await app.send_action({"Action": "Command", "Command": "pjsip show registrations"})
    print("registrations", lines(regs), flush=True)
    assert any("carrier-reg/sip:" in line for line in lines(regs)), regs

    endpoints = await app.send_action({"Action": "PJSIPShowEndpoints"})
    names = [m.ObjectName for m in endpoints if m.Event == "EndpointList"]
    print("endpoints", names, endpoints[-1].ListItems, flush=True)
    assert endpoints[-1].Event == "EndpointListComplete", endpoints[-1]
    assert "carrier-out" in names and endpoints[-1].ListItems == str(len(names)), names

    outbound = await app.send_action({"Action": "PJSIPShowRegistrationsOutbound"})
    print("outbound", [(m.Event, m.get("Status")) for m in outbound], flush=True)
    assert outbound[-1].Event == "OutboundRegistrationDetailComplete", outbound[-1]

    put = await app.send_action({"Action": "DBPut", "Family": "cidname", "Key": "0744", "Val": "Terni centro"})
    got = await app.send_action({"Action": "DBGet", "Family": "cidname", "Key": "0744"})
    got = got if isinstance(got, list) else [got]
    print("dbget", got, flush=True)
    vals = [m.Val for m in got if m.Event == "DBGetResponse"]
    print("astdb", put.Response, vals, flush=True)
    assert put.Response == "Success" and vals == ["Terni centro"], (put, got)
    deleted = await app.send_action({"Action": "DBDel", "Family": "cidname", "Key": "0744"})
    gone = await app.send_action({"Action": "DBGet", "Family": "cidname", "Key": "0744"})
    print("astdb del", deleted.Response, gone.Response, gone.Message, flush=True)
    assert deleted.Response == "Success" and gone.Response == "Error", (deleted, gone)

    sent = await app.send_action({"Action": "UserEvent", "UserEvent": "AlertDrill", "Zone": "Terni"})
    event = await asyncio.wait_for(seen, 5)
    print("userevent", sent.Response, event.UserEvent, event.Zone, flush=True)
    assert sent.Response == "Success" and event.UserEvent == "AlertDrill" and event.Zone == "Terni"

    reloaded = await app.send_action({"Action": "Command", "Command": "dialplan reload"})
    print("reload", reloaded.Response, lines(reloaded), flush=True)
    assert any("extensions.conf" in line and "Not reloaded" in line for line in lines(reloaded)), reloaded
    action = await app.send_action({"Action": "Reload"})
    print("reload action", action.Response, action.Message, flush=True)
    assert action.Response == "Error" and "extensions.conf" in action.Message, action

    app.close()
    listener.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
