"""A real SMTP server for discord-monitor's email alert tests (aiosmtpd from PyPI).

Usage: aiosmtpd_server.py OUT_DIR [--starttls|--implicit USER PASSWORD]

Listens on 127.0.0.1 (a free port), writes each received message to OUT_DIR as
<n>.json ({"mail_from", "rcpt_tos", "data"}) and prints "READY <port>" once listening.
With --starttls it generates a test CA and a leaf certificate for "localhost" (python's
`cryptography`, which aiosmtpd's TLS support relies on), writes the CA to OUT_DIR/ca.pem,
requires STARTTLS before anything else and requires AUTH with USER/PASSWORD. --implicit
does the same with TLS from the first byte (SMTPS, port 465 style).
Runs until stdin closes, so it never outlives the test that started it.
"""

import datetime
import json
import os
import socket
import ssl
import sys
import threading


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_certificates(out_dir):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "discord-monitor test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path = os.path.join(out_dir, "ca.pem")
    cert_path = os.path.join(out_dir, "leaf.pem")
    key_path = os.path.join(out_dir, "leaf.key")
    with open(ca_path, "wb") as f:
        f.write(ca_cert.public_bytes(pem))
    with open(cert_path, "wb") as f:
        f.write(leaf_cert.public_bytes(pem))
    with open(key_path, "wb") as f:
        f.write(
            leaf_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


def main():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    out_dir = sys.argv[1]
    mode = sys.argv[2] if len(sys.argv) == 5 else None
    counter = {"n": 0}

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            counter["n"] += 1
            record = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
                "authenticated": session.authenticated,
            }
            path = os.path.join(out_dir, "%d.json" % counter["n"])
            with open(path + ".tmp", "w") as f:
                json.dump(record, f)
            os.rename(path + ".tmp", path)
            return "250 OK"

    kwargs = {}
    if mode in ("--starttls", "--implicit"):
        user, password = sys.argv[3].encode(), sys.argv[4].encode()

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login == user
                and auth_data.password == password
            )
            # handled=False: aiosmtpd answers 535 itself (its default, handled=True, means
            # "the authenticator already replied" and leaves the client waiting).
            return AuthResult(success=ok, handled=False)

        context = make_certificates(out_dir)
        kwargs = dict(auth_required=True, authenticator=authenticator)
        if mode == "--starttls":
            kwargs.update(tls_context=context, require_starttls=True, auth_require_tls=True)
        else:
            # The whole session is TLS; aiosmtpd's own "TLS before AUTH" check only knows
            # about STARTTLS, so it is turned off here.
            kwargs.update(ssl_context=context, auth_require_tls=False)
    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("READY %d" % port, flush=True)
    done = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
