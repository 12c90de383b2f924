from tests.ocpp.conftest import StationUnderTest
from tests.ocpp.harness import ScriptedCsms


async def test_boot_and_status(csms: ScriptedCsms, station: StationUnderTest) -> None:
    boot = await csms.wait_for("BootNotification")
    assert boot["reason"] == "PowerUp"
    await csms.wait_for("StatusNotification", count=2)
    assert csms.paths[0] == "/CS001"
    res = await csms.call(
        "GetVariables",
        {
            "getVariableData": [
                {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
            ]
        },
    )
    assert res["getVariableResult"][0]["attributeValue"] == "300"
