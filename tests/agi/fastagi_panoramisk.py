"""An IVR as a legacy alert application keeps it, in a FastAGI server written with
panoramisk (PyPI): answer, play the alert, ask for "1", store the answer in a channel
variable and in AstDB, and hand the call back to the dialplan.

Usage: fastagi_panoramisk.py BIND_ADDR PORT. Serves one call, prints one line per step
and the agi_* headers it got, exits 0 once the call is handled (non-zero on a surprise,
or after 60 s without a call).
"""
import asyncio
import sys

from panoramisk import fast_agi


async def main(bind, port):
    done = asyncio.get_running_loop().create_future()

    async def alert(request):
        try:
            h = request.headers
            print("headers", h.get("agi_network_script"), h.get("agi_channel"),
                  h.get("agi_callerid"), h.get("agi_extension"), h.get("agi_arg_1"), flush=True)
            assert h.get("agi_network_script") == "alert", h
            assert h.get("agi_arg_1") == "drill", h
            steps = [
                ("ANSWER", "200"),
                ('STREAM FILE alert ""', "200"),
                ("GET DATA confirm 5000 1", "200"),
            ]
            results = []
            for command, status in steps:
                r = await request.send_command(command)
                print(command, r, flush=True)
                assert str(r.get("status_code")) == status, (command, r)
                results.append(r)
            digits = results[-1]["result"][0]
            r = await request.send_command(f"SET VARIABLE ACK {digits}")
            print("set", r, flush=True)
            r = await request.send_command("GET VARIABLE ACK")
            print("get", r, flush=True)
            assert r["result"] == ("1", digits), r
            r = await request.send_command(f"DATABASE PUT agi lastack {digits}")
            print("dbput", r, flush=True)
            r = await request.send_command("FROBNICATE")
            print("unknown", r, flush=True)
            assert str(r.get("status_code")) == "510", r
            r = await request.send_command('VERBOSE "agi says bye" 1')
            print("verbose", r, flush=True)
            done.set_result(digits)
        except BaseException as e:  # noqa: BLE001 - reported to the test
            print("error", repr(e), flush=True)
            done.set_exception(e)

    app = fast_agi.Application()
    app.add_route("alert", alert)
    server = await asyncio.start_server(app.handler, bind, port)
    print("listening", flush=True)
    digits = await asyncio.wait_for(done, 60)
    print("done", digits, flush=True)
    server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
