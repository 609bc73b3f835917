"""The device's state machine: connect, listen, think, speak; the button, the LED, teacher commands."""

import asyncio

import board
import machine

from hootproto import Abort, Alert, Lesson, Listen, Metrics, Pair, Stt, System, Tts
from hoot import config, guard, link as links, log, netcfg, ota, ui, ws
from hoot import url as urls
from hoot.audio import Mic, Speaker

FRAME_MS = 40
REFUSED_RETRY_MS = 60000

CONNECTING = "connecting"
IDLE = "idle"
LISTENING = "listening"
THINKING = "thinking"
SPEAKING = "speaking"
PAUSED = "paused"
ERROR = "error"
BUSY = (THINKING, SPEAKING)


class App:
    """One device: owns the hardware and the link, and moves between states on events and gestures."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.led = ui.Led(board.LED)
        self.button = ui.Button(board.BUTTON)
        self.mic = Mic(board.MIC, FRAME_MS)
        self.speaker = Speaker(board.SPEAKER, FRAME_MS)
        self.wifi = netcfg.Wifi(cfg.get("wifi"))
        self.link = None
        self.state = None
        self.streaming = False
        self.listen_mode = None
        self.first_audio = False
        self.set_state(CONNECTING)

    def set_state(self, state):
        if state != self.state:
            self.state = state
            self.led.show(state)
            log.event("state", {"state": state})

    async def run(self):
        asyncio.create_task(self.speaker.run())
        asyncio.create_task(self.button.gestures(self.on_gesture))
        asyncio.create_task(self.pump_mic())
        checked_update = False
        failures = 0
        while True:
            self.set_state(CONNECTING)
            await self.wifi.ensure()
            if not checked_update:
                checked_update = True
                if await ota.check(urls.http_base(self.cfg["server"]), self.cfg.get("token")):
                    machine.reset()
            link = links.Link(self.cfg["server"], self.cfg.get("token"), self.wifi.mac(), board.MIC["rate"], FRAME_MS)
            try:
                await link.open()
            except links.LinkRefused as refused:
                log.event("refused", {"code": refused.code, "reason": refused.reason})
                self.set_state(ERROR)
                await asyncio.sleep_ms(REFUSED_RETRY_MS)
                continue
            except ws.WsClosed as closed:
                log.event("link_down", {"code": closed.code, "reason": closed.reason})
                await asyncio.sleep_ms(netcfg.backoff(failures))
                failures += 1
                continue
            failures = 0
            self.link = link
            log.event("connected", {"session": link.session_id})
            guard.confirm()
            await self.ready()
            try:
                while True:
                    for event in await link.receive():
                        await self.on_event(event)
            except ws.WsClosed as closed:
                log.event("link_down", {"code": closed.code, "reason": closed.reason})
            self.link = None
            self.streaming = False
            self.speaker.flush()

    async def pump_mic(self):
        """Reads the microphone all the time; frames go to the server only while listening."""
        while True:
            frame = await self.mic.read_frame()
            if self.streaming and self.link is not None:
                try:
                    await self.link.send_audio(frame)
                except ws.WsClosed:
                    self.streaming = False

    async def send(self, event):
        if self.link is not None:
            try:
                await self.link.send(event)
            except ws.WsClosed:
                self.streaming = False

    async def ready(self):
        """Between turns: an auto device listens again, a manual one waits for the button."""
        if self.mode == "auto":
            await self.listen("auto")
        else:
            self.set_state(IDLE)

    async def listen(self, mode):
        self.listen_mode = mode
        await self.send(Listen(state="start", mode=mode))
        self.streaming = True
        self.set_state(LISTENING)

    async def interrupt(self, reason):
        self.speaker.flush()
        await self.send(Abort(reason=reason))
        log.event("abort", {"reason": reason})

    async def on_gesture(self, gesture):
        log.event("button", {"gesture": gesture})
        if self.link is None or self.state == PAUSED:
            return
        if gesture == ui.HOLD:
            if self.state in BUSY:
                await self.interrupt("button")
            await self.listen("manual")
        elif gesture == ui.RELEASE:
            if self.listen_mode == "manual" and self.state == LISTENING:
                self.streaming = False
                await self.send(Listen(state="stop"))
                self.set_state(THINKING)
        elif gesture == ui.TAP:
            if self.state in BUSY:
                await self.interrupt("button")
                await self.ready()
            elif self.state == IDLE:
                await self.listen("auto")

    async def on_event(self, event):
        if isinstance(event, Tts):
            await self.on_tts(event)
        elif event.type == "audio":
            if self.first_audio:
                self.first_audio = False
                log.event("reply_audio")
            self.speaker.feed(event.data)
        elif isinstance(event, Stt):
            log.event("heard", {"text": event.text})
            if event.text:
                self.streaming = False
                self.set_state(THINKING)
        elif isinstance(event, Alert):
            log.event("alert", {"code": event.code, "message": event.message})
            if event.code == "no_speech" and self.listen_mode == "manual":
                self.set_state(IDLE)
        elif isinstance(event, Metrics):
            log.event("metrics", {"turn": event.turn, "parts": event.parts})
        elif isinstance(event, System):
            await self.on_system(event.command)
        elif isinstance(event, Lesson):
            log.event("lesson", event.to_dict())
        elif isinstance(event, Pair):
            self.on_pair(event)

    async def on_tts(self, event):
        if event.state == "start":
            self.first_audio = True
            self.streaming = False
            if self.state != PAUSED:  # a paused device still says why it is quiet, and stays paused
                self.set_state(SPEAKING)
        elif event.state == "sentence_start":
            log.event("say", {"text": event.text})
        elif event.state == "stop":
            self.speaker.end()
            asyncio.create_task(self.after_reply())

    async def after_reply(self):
        await self.speaker.drained.wait()
        log.event("reply_done", {"overflowed": self.speaker.overflowed})
        if self.state == SPEAKING:
            await self.ready()

    async def on_system(self, command):
        log.event("system", {"command": command})
        if command == "reboot":
            machine.reset()
        if command in ("pause", "stop"):
            if self.state in BUSY:
                await self.interrupt("teacher")
            self.streaming = False
            self.set_state(PAUSED)
        elif command == "resume" and self.state == PAUSED:
            await self.ready()

    def on_pair(self, event):
        """Unpaired: the server says the code (a board with a display would show it). Paired: keep the token."""
        if event.state == "code":
            log.event("pairing", {"code": event.code})
        else:
            self.cfg["token"] = event.token
            config.save(self.cfg)
            log.event("paired", {"name": event.name})


def load_config():
    """The saved config, or a new one from the serial console on first boot (or after a broken file)."""
    try:
        cfg = config.load()
    except config.ConfigError as error:
        log.event("config_error", {"error": str(error)})
        cfg = None
    if cfg is None:
        cfg = config.provision()
        config.save(cfg)
        log.event("provisioned", {"server": cfg["server"]})
    return cfg


def main():
    asyncio.run(App(load_config()).run())
