/** The speaker: plays PCM16 frames back to back, gaplessly, on one AudioContext; stops at once when told. */

const LEAD_S = 0.08; // head start for the first frame of a burst, to ride out network jitter

export class Speaker {
  constructor(context) {
    this.context = context;
    this.sources = new Set();
    this.nextStart = 0; // context time at which the next frame starts
    this.carry = null; // an odd trailing byte from the last frame, joined to the next
    this.onIdle = () => {};
  }

  /** True while scheduled audio has not finished playing. */
  get playing() {
    return this.sources.size > 0;
  }

  /** Schedules one frame of signed 16-bit little-endian mono PCM at `rate` Hz right after the previous one. */
  play(data, rate) {
    const bytes = this.join(new Uint8Array(data));
    const count = bytes.length >> 1;
    if (!count || this.context.state !== 'running') return; // a suspended context would play it late, all at once
    const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
    const buffer = this.context.createBuffer(1, count, rate);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < count; i++) samples[i] = view.getInt16(i * 2, true) / 32768;
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    const now = this.context.currentTime;
    if (this.nextStart < now) this.nextStart = now + LEAD_S; // first frame, or we ran dry: start a new burst
    source.start(this.nextStart);
    this.nextStart += buffer.duration;
    this.sources.add(source);
    source.onended = () => {
      this.sources.delete(source);
      if (!this.sources.size) this.onIdle();
    };
  }

  /** Silences everything scheduled, now. */
  stop() {
    for (const source of this.sources) {
      source.onended = null;
      try {
        source.stop();
      } catch {
        // already stopped
      }
      source.disconnect();
    }
    const wasPlaying = this.sources.size > 0;
    this.sources.clear();
    this.nextStart = 0;
    this.carry = null;
    if (wasPlaying) this.onIdle();
  }

  join(bytes) {
    let joined = bytes;
    if (this.carry !== null) {
      joined = new Uint8Array(bytes.length + 1);
      joined[0] = this.carry;
      joined.set(bytes, 1);
      this.carry = null;
    }
    if (joined.length % 2) {
      this.carry = joined[joined.length - 1];
      joined = joined.subarray(0, joined.length - 1);
    }
    return joined;
  }
}
