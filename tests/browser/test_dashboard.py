"""The dashboard and the browser device in a real Chromium (Debian's, driven by Playwright) against a real server.

Screenshots of the main pages are kept in test-artifacts/screenshots/ (look at them after a change).
"""

import asyncio
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import QUIZ_LESSON, build_host_app, fake_engines, fast_settings, need, silence, tone

from hootkit.accounts.passwords import hash_password
from hootkit.app import create_app
from hootkit.client.device import DeviceClient
from hootkit.emulator.session import Session
from hootkit.engines.fakes import FakeStt
from hootkit.serving import serve_in_loop

CHROMIUM = os.environ.get("HOOT_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "owls-see-at-night"
ANSWER = np.concatenate([silence(0.3), tone(0.8), silence(0.2)])


@pytest.fixture(autouse=True, scope="session")
def chromium_here():  # the widest scope: checked before the shared firmware build and models are made
    need(shutil.which(CHROMIUM), f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def host_build(tmp_path_factory):
    return build_host_app(tmp_path_factory.mktemp("firmware"))


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  "--autoplay-policy=no-user-gesture-required"],
        )
        yield chromium
        await chromium.close()


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def log_in(browser, base: str, username: str):
    page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{base}/dashboard/")
    await page.fill("#login-username", username)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_selector("#nav-devices", state="visible")
    page.errors = errors
    return page


async def test_a_teacher_logs_in_pairs_an_emulated_device_assigns_a_lesson_watches_and_stops_it(
        browser, host_build, tmp_path, data_dir):
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    (lessons / "legs.yaml").write_text(QUIZ_LESSON)
    settings = fast_settings(lessons_dir=lessons, watch_lessons=False, pairing="all")
    app = create_app(settings, fake_engines(stt=FakeStt("eight")))
    async with serve_in_loop(app) as url:
        hoot = app.state.hoot
        for username, role in (("ada", "admin"), ("tom", "teacher")):
            await hoot.store.add_account(username, await hash_password(PASSWORD), role)
        base = url.replace("ws://", "http://").split("/v1/")[0]

        # a wrong password is told plainly
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{base}/dashboard/")
        await page.fill("#login-username", "tom")
        await page.fill("#login-password", "not-my-password")
        await page.click("#login-submit")
        await page.wait_for_selector("#login-error:has-text('wrong user name or password')")
        await shot(page, "login-error")

        page = await log_in(browser, base, "tom")
        await page.click("#nav-classes")
        await page.fill("#class-name", "Class 4B")
        await page.click("#class-submit")
        await page.wait_for_selector("#classes-table:has-text('Class 4B')")

        async with Session(url, build=host_build, workdir=tmp_path / "device") as session:
            device = session.device
            code = (await device.expect("pairing"))["code"]
            device_id = next(iter(hoot.gateway.sessions.values())).device_id

            async with DeviceClient(url, device_id="stranger-1") as stranger:  # a device nobody here knows
                await stranger.notice()
                await page.click("#nav-pair")
                await page.wait_for_selector(f"#pair-waiting li[data-device-id='{device_id}']")
                page.once("dialog", lambda dialog: dialog.accept())
                await page.click("#pair-waiting li[data-device-id='stranger-1'] [data-testid='turn-away']")
                await asyncio.wait_for(asyncio.shield(stranger._reader), 10)
                assert stranger.close_reason == "turned away by a teacher"
                await page.wait_for_selector("#pair-waiting li[data-device-id='stranger-1']", state="detached")
            await page.select_option("#pair-class", label="Class 4B")
            await page.fill("#pair-name", "Table 3")
            await page.fill("#pair-code", "000000" if code != "000000" else "111111")
            await page.click("#pair-submit")
            await page.wait_for_selector("#pair-result:has-text('no device is waiting with that code')")
            await page.fill("#pair-code", code)
            await page.click("#pair-submit")
            await page.wait_for_selector("#pair-result:has-text('Table 3')")
            await shot(page, "pair")
            await device.expect("paired")
            assert "token" in (tmp_path / "device" / "flash" / "config.json").read_text()

            await page.click("#nav-devices")
            card = page.locator(f"article.device-card[data-device-id='{device_id}']")
            await card.wait_for()
            since = device.mark()
            await card.get_by_test_id("assign-lesson").select_option("legs")
            await card.get_by_test_id("assign-submit").click()
            await device.expect("reply_done", since)
            await card.locator("[data-testid=lesson-step]").wait_for()

            await card.locator("button[data-action=transcript]").click()
            await page.wait_for_selector("#transcript .turn:has-text('How many legs does a spider have?')")
            answered = await session.ask(ANSWER)
            assert " ".join(answered.sentences).startswith("Yes, eight legs!")
            await page.wait_for_selector("#transcript .turn:has-text('eight')")  # arrives live, no reload
            await shot(page, "transcript")
            await page.click("#transcript-close")

            since = device.mark()
            await card.locator("button[data-action=stop]").click()
            await device.expect("system", since, where=lambda event: event["command"] == "stop")
            await device.expect("state", since, where=lambda event: event["state"] == "paused")
            await page.wait_for_selector(f"article.device-card[data-device-id='{device_id}'][data-activity='stopped']")
            await shot(page, "devices")

        await page.goto(f"{base}/dashboard/#reports/device/{device_id}")
        await page.wait_for_selector("#report:has-text('Legs')")
        await shot(page, "report")
        assert page.errors == []

        admin = await log_in(browser, base, "ada")
        await admin.click("#nav-settings")
        await admin.wait_for_selector("#audit-table:has-text('pair')")
        await shot(admin, "settings")
        audit = await hoot.store.audit_log()
    assert any(event.action == "refused" and event.actor == "tom" and "404" in event.detail for event in audit)


@pytest.mark.models
async def test_the_browser_device_speaks_a_wav_to_the_real_server_and_gets_a_spoken_answer(
        real_engines, tmp_path, data_dir):
    from playwright.async_api import async_playwright

    from hootkit.client.speech import speak
    from hootkit.client.wavio import write_wav

    question = np.concatenate([silence(0.5), speak("How many legs does a spider have?"), silence(2.5)])
    wav = tmp_path / "question.wav"
    write_wav(wav, question.astype(np.int16).tobytes(), 16000)
    app = create_app(fast_settings(), real_engines)
    async with serve_in_loop(app) as url, async_playwright() as playwright:
        base = url.replace("ws://", "http://").split("/v1/")[0]
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = await chromium.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{base}/dashboard/device.html?device_id=browser-1&autostart=1")
            await page.wait_for_function("window.hootStats && window.hootStats.replies >= 1", timeout=120_000)
            stats = await page.evaluate("window.hootStats")
            await shot(page, "browser-device")
        finally:
            await chromium.close()
    heard = " ".join(stats["heard"]).lower()
    assert "spider" in heard, stats  # tiny.en hears "legs" or, through the browser's resampling, now and then "likes"
    assert stats["said"] and stats["audioBytes"] > 16000, stats  # more than half a second of reply audio
    assert errors == []


async def test_a_teacher_pairs_a_xiaozhi_board_and_sets_its_volume_for_the_class_and_on_its_card(browser, data_dir):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "xiaozhi"))
    from xiaozhi_client import StockXiaoZhi

    volumes = []

    def set_volume(arguments: dict):
        volumes.append(arguments["volume"])
        return {"volume": arguments["volume"]}, False

    app = create_app(fast_settings(pairing="all"), fake_engines())
    async with serve_in_loop(app) as url:
        hoot = app.state.hoot
        await hoot.store.add_account("tom", await hash_password(PASSWORD), "teacher")
        base = url.replace("ws://", "http://").split("/v1/")[0]
        page = await log_in(browser, base, "tom")
        await page.click("#nav-classes")
        await page.fill("#class-name", "Class 4B")
        await page.click("#class-submit")
        await page.wait_for_selector("#classes-table:has-text('Class 4B')")

        board = StockXiaoZhi(base)  # xiaozhi-sdk, unchanged, with a volume and a camera tool
        await board.client.set_mcp_tool([
            {"name": "self.audio_speaker.set_volume", "description": "Set the volume of the audio speaker.",
             "inputSchema": {"type": "object", "properties": {"volume": {"type": "integer", "minimum": 0, "maximum": 100}},
                             "required": ["volume"]}, "tool_func": set_volume},
            {"name": "self.camera.take_photo", "description": "Take a photo", "inputSchema": {"type": "object", "properties": {}},
             "tool_func": lambda arguments: ({"photo": "..."}, False)}])
        assert await board.client.init_connection("aa:bb:cc:00:00:09")
        try:
            code = (await board.next("alert"))["message"].rsplit(" ", 1)[1]  # its screen shows the code
            await page.click("#nav-pair")
            await page.select_option("#pair-class", label="Class 4B")
            await page.fill("#pair-name", "Table 1")
            await page.fill("#pair-code", code)
            await page.click("#pair-submit")
            await page.wait_for_selector("#pair-result:has-text('Table 1')")
            await board.client.ota_task  # it reconnects with its token
            await board.next("tts", "stop")
            await hoot.gateway.tools_of("aa:bb:cc:00:00:09").discovery

            await page.click("#nav-devices")
            await page.get_by_test_id("class-volume").fill("20")
            await page.get_by_test_id("class-volume-submit").click()
            await page.wait_for_selector("#toast .toast-item:has-text('Volume 20 set on 1 device')")

            card = page.locator("article.device-card[data-device-id='aa:bb:cc:00:00:09']")
            await card.get_by_test_id("device-tools").locator("summary").click()
            volume = card.locator("form.tool[data-tool='self.audio_speaker.set_volume']")
            await volume.locator("input[type=range]").fill("30")
            await volume.get_by_test_id("call-tool").click()
            await volume.get_by_test_id("tool-result").filter(has_text="30").wait_for()
            camera = card.locator("form.tool[data-tool='self.camera.take_photo']").get_by_test_id("call-tool")
            assert await camera.is_disabled()  # listed, but not in the device_tools setting
            await shot(page, "device-tools")
        finally:
            await board.client.close()
        audit = await hoot.store.audit_log()
    assert volumes == [20, 30]
    assert sorted(event.target for event in audit if event.action == "device tool") == ["aa:bb:cc:00:00:09", "class 1"]
    assert page.errors == []
