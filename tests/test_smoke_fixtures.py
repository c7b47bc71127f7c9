import smtplib

from .smtp_server import SmtpServer


def test_smtp_server_records_and_injects_failures(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(451)
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        try:
            client.sendmail("a@example.pl", ["b@example.pl"], b"Subject: x\r\n\r\nbody\r\n")
        except smtplib.SMTPDataError as error:
            assert error.smtp_code == 451
        client.sendmail("a@example.pl", ["b@example.pl"], "Subject: zażółć\r\n\r\nbody\r\n".encode())
    assert len(smtp_server.received) == 1
    assert smtp_server.received[0].recipients == ["b@example.pl"]
