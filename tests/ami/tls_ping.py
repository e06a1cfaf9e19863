"""AMI over TLS (port 5039), as a client verifying the node's certificate would use it:
read the banner, log in, ping, log off. Prints what it saw; exits non-zero on failure.

usage: tls_ping.py <host> <port> <ca.pem> <user> <secret>
"""
import socket
import ssl
import sys

host, port, ca, user, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
context = ssl.create_default_context(cafile=ca)
with socket.create_connection((host, port), timeout=10) as raw:
    with context.wrap_socket(raw, server_hostname=host) as s:
        print("tls", s.version())
        data = b""

        def until(marker):
            global data
            while marker not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise SystemExit("closed early: %r" % data)
                data += chunk
            head, _, data = data.partition(marker)
            return head.decode()

        print("banner", until(b"\r\n"))
        s.sendall(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nActionID: l\r\n\r\n".encode())
        login = until(b"\r\n\r\n")
        print(login.replace("\r\n", " | "))
        if "Authentication accepted" not in login:
            raise SystemExit("login failed")
        s.sendall(b"Action: Ping\r\nActionID: p\r\n\r\n")
        while True:
            msg = until(b"\r\n\r\n")
            if "ActionID: p" in msg:
                print(msg.replace("\r\n", " | "))
                break
        s.sendall(b"Action: Logoff\r\n\r\n")
        print("done")
