/**
 * Microphone AudioWorklet: downsamples the context rate to 16 kHz and posts 20 ms frames of PCM16
 * (an ArrayBuffer of 320 Int16 samples, transferred) to the main thread.
 *
 * Each output sample is the average of the input over its span (an area resampler): a plain low-pass
 * against aliasing that handles any ratio, e.g. 48000 -> 16000 (3 : 1) or 44100 -> 16000 (2.75625 : 1).
 */

class HootMicProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const settings = (options && options.processorOptions) || {};
    this.targetRate = settings.targetRate || 16000;
    this.frameSamples = settings.frameSamples || 320;
    this.ratio = sampleRate / this.targetRate; // input samples per output sample
    this.sum = 0; // weighted input gathered for the output sample in progress
    this.filled = 0; // how much of its span (in input samples) is gathered
    this.frame = new Int16Array(this.frameSamples);
    this.length = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || !input.length) return true; // no source connected yet
    const channels = input.length;
    const samples = input[0].length;
    for (let i = 0; i < samples; i++) {
      let value = input[0][i];
      if (channels > 1) {
        for (let c = 1; c < channels; c++) value += input[c][i];
        value /= channels;
      }
      this.take(value);
    }
    return true;
  }

  /** Adds one input sample (weight 1), emitting every output sample whose span it completes. */
  take(value) {
    let weight = 1;
    while (this.filled + weight >= this.ratio) {
      const part = this.ratio - this.filled;
      this.emit((this.sum + value * part) / this.ratio);
      weight -= part;
      this.sum = 0;
      this.filled = 0;
    }
    this.sum += value * weight;
    this.filled += weight;
  }

  emit(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.frame[this.length++] = clamped < 0 ? Math.round(clamped * 0x8000) : Math.round(clamped * 0x7fff);
    if (this.length === this.frameSamples) {
      const buffer = this.frame.buffer;
      this.port.postMessage(buffer, [buffer]);
      this.frame = new Int16Array(this.frameSamples);
      this.length = 0;
    }
  }
}

registerProcessor('hoot-mic', HootMicProcessor);
