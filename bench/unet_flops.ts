/**
 * Convolution FLOPs of one U-Net forward pass (2 x multiply-adds), counted from
 * the architecture of src/models/unet.ts; a training step is about 3x this
 * (forward, gradient of the input, gradient of the weights).
 */
export function unetForwardFlops(o: { inChannels: number; baseChannels: number; depth: number; classes: number; upsample: 'bilinear' | 'transpose' }, height: number, width: number): number {
  const conv = (cin: number, cout: number, k: number, h: number, w: number) => 2 * cin * cout * k * k * h * w;
  const c = (level: number) => o.baseChannels * 2 ** level;
  const size = (level: number): [number, number] => [height / 2 ** level, width / 2 ** level];
  let flops = conv(o.inChannels, c(0), 3, height, width) + conv(c(0), c(0), 3, height, width);
  for (let i = 1; i <= o.depth; i++) {
    const [h, w] = size(i);
    flops += conv(c(i - 1), c(i), 3, h, w) + conv(c(i), c(i), 3, h, w);
  }
  for (let i = o.depth - 1; i >= 0; i--) {
    const [h, w] = size(i);
    // up-conv to c(i) channels at the finer level: 3x3 after bilinear, or 2x2 stride-2 transposed
    flops += o.upsample === 'bilinear' ? conv(c(i + 1), c(i), 3, h, w) : conv(c(i + 1), c(i), 2, h / 2, w / 2);
    flops += conv(c(i + 1), c(i), 3, h, w) + conv(c(i), c(i), 3, h, w);
  }
  return flops + conv(c(0), o.classes, 1, height, width);
}
