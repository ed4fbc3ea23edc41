"""How the Kafka client is installed, where it costs CPU on every message."""

from kafka.record import util


def test_kafka_python_checks_record_crcs_in_c():
    # Without the crc32c package kafka-python computes CRC-32C in pure Python, for every
    # record batch it fetches or produces: a fifth of the directory's CPU at 70/s on Kafka.
    assert util.crc32c_c is not None
    assert util.calc_crc32c(memoryview(b"123456789")) == 0xE3069283  # the CRC-32C check value
