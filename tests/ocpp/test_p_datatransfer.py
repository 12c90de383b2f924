"""OCTT group P (data transfer): TC_P_01 (unknown vendorId -> UnknownVendorId), TC_P_02 (known vendor,
unknown messageId), and a known vendor/message answering with data."""

from __future__ import annotations

from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms


async def test_tc_p_01_p_02_data_transfer(csms: ScriptedCsms, station: StationUnderTest) -> None:
    res = await csms.call("DataTransfer", {"vendorId": "com.unknown"})
    assert res == {"status": "UnknownVendorId"}
    res = await csms.call("DataTransfer", {"vendorId": "org.josev", "messageId": "nope"})
    assert res == {"status": "UnknownMessageId"}
    res = await csms.call(
        "DataTransfer", {"vendorId": "org.josev", "messageId": "echo", "data": {"a": [1, 2]}}
    )
    assert res == {"status": "Accepted", "data": {"a": [1, 2]}}
