"""Teachers pause, resume and stop a device or a whole class: the reply stops at once and the device says so."""

import asyncio
from contextlib import asynccontextmanager

from school import QUESTION, LiveNews, lessons_dir, school  # noqa: F401 (fixtures)
from websockets.asyncio.client import connect

from hootkit.client.device import DeviceClient
from hootkit.engines.fakes import FakeLlm, FakeStt
from hootproto import Listen


async def pair(s, api, class_id: int, device_id: str) -> DeviceClient:
    """Connect an unpaired device and pair it into the class; returns the connected client."""
    device = DeviceClient(s.url, device_id=device_id)
    await device.connect()
    code = (await device.notice()).code
    await device.told()
    response = await api.post("/api/pair", json={"code": code, "class_id": class_id, "name": device_id})
    assert response.status_code == 201, response.text
    assert (await device.notice()).state == "paired"
    await device.told()
    return device


async def test_pause_cuts_the_reply_and_holds_the_device_until_resume(school):
    gate = asyncio.Event()
    llm = FakeLlm(["A spider", " has eight legs.", " Can you", " count them?"], gate=gate)
    async with school(llm=llm, stt=FakeStt("spiders")) as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-1")
        try:
            async with LiveNews(tom) as live:
                device.heard_audio.clear()
                asking = asyncio.create_task(device.ask(QUESTION))
                await device.heard_audio.wait()  # the first sentence is playing; the rest waits for the gate
                response = await tom.post("/api/devices/owl-1/control", json={"command": "pause"})
                assert response.json()["devices"] == [{"device_id": "owl-1", "online": True, "activity": "paused"}]
                cut = await asyncio.wait_for(asking, 30)
                assert cut.sentences == ["A spider has eight legs."] and "stop" in cut.tts_states
                assert (await device.notice()).command == "pause"
                notice = await device.told()
                assert notice.reply == "Let's take a little break. Your teacher paused me."
                await live.next("device", lambda data: data["activity"] == "paused" and data["paused"])

                gate.set()
                await device.send_event(Listen(state="start", mode="auto"))
                alert = await device.alert("paused")
                assert alert.message == "Your teacher paused me for now."

                assert (await tom.post("/api/devices/owl-1/control", json={"command": "resume"})).status_code == 200
                assert (await device.notice()).command == "resume"
                assert (await device.told()).reply == "I'm back! Let's go on."
                answer = await device.ask(QUESTION)
                assert answer.reply == "A spider has eight legs. Can you count them?"
        finally:
            await device.close()
        actions = [event.action for event in await s.audit()]
    assert actions.count("pause") == 1 and actions.count("resume") == 1


async def test_stop_ends_the_lesson_and_a_class_command_reaches_every_device(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        first, second = await pair(s, tom, class_id, "owl-1"), await pair(s, tom, class_id, "owl-2")
        try:
            assigned = await tom.post("/api/lessons/legs/assign", json={"classes": [class_id]})
            assert [d["started"] for d in assigned.json()["devices"]] == [True, True]
            await first.told(), await second.told()
            stopped = await tom.post(f"/api/classes/{class_id}/control", json={"command": "stop"})
            assert [d["activity"] for d in stopped.json()["devices"]] == ["stopped", "stopped"]
            for device in (first, second):
                assert (await device.notice()).command == "stop"
                assert (await device.told()).reply == "Okay, I'll stop now. Bye for now!"
            listed = (await tom.get("/api/devices")).json()["devices"]
            assert [(d["activity"], d["lesson"]) for d in listed] == [("stopped", None), ("stopped", None)]
            report = (await tom.get(f"/api/classes/{class_id}/report")).json()["reports"]
            assert [r["lessons"][0]["ended_at"] is not None for r in report] == [True, True]
        finally:
            await first.close()
            await second.close()


async def held_then_dropped(s, api, command: str) -> DeviceClient:
    """A device "owl-1" paired into a new class, held by `command`, then disconnected; its client (and token)."""
    device = await pair(s, api, await s.new_class(api, "4B"), "owl-1")
    await api.post("/api/devices/owl-1/control", json={"command": command})
    await device.notice()
    await device.close()
    return device


async def test_a_paused_device_is_paused_again_when_it_reconnects(school):
    async with school() as s, s.login("tom") as tom:
        device = await held_then_dropped(s, tom, "pause")
        async with DeviceClient(s.url, token=device.token, device_id="owl-1") as again:
            assert (await again.notice()).command == "pause"
            listed = (await tom.get("/api/devices")).json()["devices"]
            assert listed[0]["online"] and listed[0]["activity"] == "paused"


async def test_a_pause_outlives_a_server_restart_and_a_resume_does_too(school):
    """Holds are kept in the store: a restarted server (or one that starts later) holds the device as well."""
    async with school() as s, s.login("tom") as tom:
        device = await held_then_dropped(s, tom, "pause")
    async with school(create_accounts=False) as s, s.login("tom") as tom:
        [listed] = (await tom.get("/api/devices")).json()["devices"]
        assert (listed["online"], listed["activity"], listed["paused"]) == (False, "paused", True)
        async with DeviceClient(s.url, token=device.token, device_id="owl-1") as again:
            assert (await again.notice()).command == "pause"
            assert (await tom.post("/api/devices/owl-1/control", json={"command": "resume"})).status_code == 200
            assert (await again.notice()).command == "resume"
    async with school(create_accounts=False) as s, s.login("tom") as tom:
        async with DeviceClient(s.url, token=device.token, device_id="owl-1") as again:
            [listed] = (await tom.get("/api/devices")).json()["devices"]
            assert (listed["online"], listed["activity"], listed["paused"]) == (True, "idle", False)


async def test_reading_the_holds_again_adds_a_missed_stop_and_undoes_nothing_newer(school):
    """After this server lost PostgreSQL: a stop kept in the store meanwhile is applied; a pause the store could
    not keep stands; a resume heard while the store was read is not undone by the older hold it read."""
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-1")
        classroom = s.hoot.classroom
        classroom.control("owl-2", "pause")  # its hold was never written

        async def holds_as_read() -> dict:
            classroom.control("owl-3", "resume")  # heard from the bus while the store answers
            return {"owl-1": "stop", "owl-3": "pause"}

        s.hoot.store.holds = holds_as_read
        await s.hoot.elsewhere._reload_holds()
        assert (await device.notice()).command == "stop"
        await device.close()
    assert classroom.held == {"owl-1": "stop", "owl-2": "pause"}


async def test_a_forgotten_device_paired_again_is_not_held_by_its_old_pause(school):
    async with school() as s, s.login("tom") as tom:
        await held_then_dropped(s, tom, "stop")
        assert (await tom.delete("/api/devices/owl-1")).status_code == 200
        [class_id] = [classroom["id"] for classroom in (await tom.get("/api/classes")).json()["classes"]]
        again = await pair(s, tom, class_id, "owl-1")  # its welcome said, not a teacher's hold
        await again.close()
        assert await s.hoot.store.holds() == {} and "owl-1" not in s.hoot.classroom.held


async def test_a_pause_the_store_cannot_keep_still_holds_the_device_now(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-1")

        async def store_away(*_args):
            raise ConnectionError("PostgreSQL is restarting")

        s.hoot.store.hold = store_away
        paused = await tom.post("/api/devices/owl-1/control", json={"command": "pause"})
        assert paused.status_code == 200, paused.text
        assert (await device.notice()).command == "pause"
        await device.close()


async def test_a_parent_can_change_nothing_on_their_childs_device(school):
    async with school() as s, s.login("tom") as tom, s.login("ada") as ada, s.login("pat") as pat:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-1")
        try:
            assert (await ada.patch("/api/devices/owl-1", json={"parent": "pat"})).status_code == 200
            assert (await tom.post("/api/lessons/legs/assign", json={"devices": ["owl-1"]})).status_code == 200
            await device.told()
            async with LiveNews(tom) as live:
                await device.ask(QUESTION)
                await live.next("turn", lambda data: data["asked"])
            before = (await pat.get("/api/devices")).json()["devices"]
            turns = (await pat.get("/api/devices/owl-1/transcript")).json()["turns"]
            attempts = [
                pat.post("/api/devices/owl-1/control", json={"command": "pause"}),
                pat.post("/api/devices/owl-1/control", json={"command": "stop"}),
                pat.post(f"/api/classes/{class_id}/control", json={"command": "stop"}),
                pat.delete("/api/devices/owl-1/lesson"),
                pat.patch("/api/devices/owl-1", json={"name": "Mine now"}),
                pat.delete("/api/devices/owl-1/data"),
                pat.delete(f"/api/classes/{class_id}/data"),
                pat.delete("/api/devices/owl-1"),
            ]
            for attempt in attempts:
                response = await attempt
                assert response.status_code == 403, response.text
                assert response.json()["detail"] == "only a teacher or an admin may do this"
            after = (await pat.get("/api/devices")).json()["devices"]
            assert [(d["name"], d["activity"], d["paused"], d["lesson"]["lesson"]) for d in after] == \
                [(d["name"], d["activity"], d["paused"], d["lesson"]["lesson"]) for d in before]
            assert after[0]["name"] == "owl-1" and not after[0]["paused"] and after[0]["lesson"]["lesson"] == "legs"
            assert (await pat.get("/api/devices/owl-1/transcript")).json()["turns"] == turns and len(turns) >= 2
            assert device.alerts == [] or all(alert.code not in ("paused", "stopped") for alert in device.alerts)
        finally:
            await device.close()
        audit = await s.audit()
    by_pat = [(event.action, event.detail[:3]) for event in audit if event.actor == "pat"]
    assert sorted(set(by_pat)) == [("login", ""), ("refused", "403")] and len(by_pat) == 1 + len(attempts)


@asynccontextmanager
async def class_with_one_connected_twice(s, api, twice: str):
    """Class 4B with owl-1 and owl-2 paired and connected, and a second connection for `twice` (one of them),
    with its token, that has not said hello: yields (class id, owl-1, owl-2); closes all three after."""
    class_id = await s.new_class(api, "4B")
    devices = [await pair(s, api, class_id, "owl-1"), await pair(s, api, class_id, "owl-2")]
    token = next(device.token for device in devices if device.device_id == twice)
    try:
        async with connect(s.url, additional_headers={"Device-Id": twice, "Authorization": f"Bearer {token}"}):
            yield class_id, *devices
    finally:
        for device in devices:
            await device.close()


async def test_a_class_pause_reaches_every_device_while_one_has_connected_without_hello(school):
    async with school() as s, s.login("tom") as tom:
        async with class_with_one_connected_twice(s, tom, twice="owl-2") as (class_id, first, second):
            paused = await tom.post(f"/api/classes/{class_id}/control", json={"command": "pause"})
            assert paused.status_code == 200, paused.text
            assert [(d["device_id"], d["activity"]) for d in paused.json()["devices"]] == [
                ("owl-1", "paused"), ("owl-2", "paused")]
            for device in (first, second):
                assert (await device.notice()).command == "pause"
                assert (await device.told()).reply == "Let's take a little break. Your teacher paused me."
        assert [event.target for event in await s.audit("pause")] == [f"class {class_id}"]


async def test_a_class_lesson_starts_on_every_device_while_one_has_connected_without_hello(school):
    async with school() as s, s.login("tom") as tom:
        async with class_with_one_connected_twice(s, tom, twice="owl-1") as (class_id, first, second):
            assigned = await tom.post("/api/lessons/legs/assign", json={"classes": [class_id]})
            assert assigned.status_code == 200, assigned.text
            assert [(d["device_id"], d["started"]) for d in assigned.json()["devices"]] == [("owl-1", True), ("owl-2", True)]
            for device in (first, second):
                assert (await device.told()).reply.startswith("Let's start a lesson: Legs.")


async def test_one_device_failing_a_class_command_does_not_stop_it_for_the_others(school):
    async with school() as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        first, second = await pair(s, tom, class_id, "owl-1"), await pair(s, tom, class_id, "owl-2")
        try:
            def broken(command):
                raise RuntimeError("a bug in one session")

            s.hoot.gateway.sessions["owl-1"].control = broken
            paused = await tom.post(f"/api/classes/{class_id}/control", json={"command": "pause"})
            assert paused.status_code == 200, paused.text
            assert (await second.notice()).command == "pause"
            assert s.hoot.classroom.held == {"owl-1": "pause", "owl-2": "pause"}  # owl-1 is paused when it reconnects
        finally:
            await first.close()
            await second.close()


async def test_a_paused_device_answers_no_typed_question(school):
    llm = FakeLlm()
    async with school(llm=llm) as s, s.login("tom") as tom:
        class_id = await s.new_class(tom, "4B")
        device = await pair(s, tom, class_id, "owl-3")
        try:
            assert (await tom.post("/api/devices/owl-3/control", json={"command": "pause"})).status_code == 200
            assert (await device.notice()).command == "pause"
            await device.told()
            await device.send_event(Listen(state="detect", text="How many legs does a spider have?"))
            alert = await device.alert("paused")
        finally:
            await device.close()
    assert alert.message == "Your teacher paused me for now."
    assert llm.requests == []
