/** The microphone: getUserMedia -> the mic worklet -> 20 ms PCM16 frames at 16 kHz, handed to a callback. */

export const MIC_RATE = 16000;
export const FRAME_MS = 20;

export class Microphone {
  /** `onFrame(arrayBuffer)` gets each frame: 320 Int16 samples, little-endian on every platform browsers run on. */
  constructor(context, onFrame) {
    this.context = context;
    this.onFrame = onFrame;
    this.stream = null;
    this.source = null;
    this.node = null;
  }

  get open() {
    return this.node !== null;
  }

  async start() {
    if (this.node) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !this.context.audioWorklet) {
      throw new Error('This browser cannot use the microphone on this page. Open it over https or on localhost.');
    }
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
    await this.context.audioWorklet.addModule(new URL('./mic-worklet.js', import.meta.url));
    this.source = this.context.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.context, 'hoot-mic', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { targetRate: MIC_RATE, frameSamples: (MIC_RATE * FRAME_MS) / 1000 },
    });
    this.node.port.onmessage = (event) => this.onFrame(event.data);
    this.source.connect(this.node);
    this.node.connect(this.context.destination); // keeps the worklet running; it only ever outputs silence
  }

  stop() {
    if (this.node) {
      this.node.port.onmessage = null;
      this.node.disconnect();
    }
    if (this.source) this.source.disconnect();
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.node = null;
    this.source = null;
    this.stream = null;
  }
}
