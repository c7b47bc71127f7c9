import smtplib

import pytest

from .smtp_server import SmtpServer


def test_smtp_server_refuses_the_injected_451_then_records_the_next_message(smtp_server: SmtpServer) -> None:
    smtp_server.fail_next(451)
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("a@example.pl", ["b@example.pl"], b"Subject: x\r\n\r\nodrzucona\r\n")
        assert refused.value.smtp_code == 451
        client.sendmail("a@example.pl", ["b@example.pl"], "Subject: zażółć\r\n\r\nprzyjęta\r\n".encode())
    assert len(smtp_server.received) == 1
    assert smtp_server.received[0].recipients == ["b@example.pl"]
    assert smtp_server.received[0].data.endswith("przyjęta\r\n".encode())
    assert smtp_server.messages()[0]["Subject"] == "zażółć"
