/**
 * ONNX export of a trained U-Net, for ONNX Runtime (onnxruntime-node on CPUs,
 * onnxruntime-web in a browser). The model takes what an image decoder gives:
 *
 *   pixels [batch, channels, height, width], float32, 0..255 (RGB or gray)
 *     -> probabilities [batch, classes, height, width], float32
 *
 * The first nodes normalise as training did ((x / 255 - mean) / std), the
 * network is the folded one (batch norm inside the convs, see infer/folded.ts),
 * the input is padded by reflection to a multiple of 2^depth inside the graph
 * and the output cropped back, and the last node is a sigmoid (one class) or a
 * softmax over classes. Batch, height and width are dynamic. metadata_props
 * carry class_names (JSON), threshold, mpp (when known), input_range and the
 * normalisation, for a viewer to read with the session.
 */
import { writeFile } from 'node:fs/promises';
import type { ChannelStats } from '../data/normalize.js';
import type { UNet } from '../models/unet.js';
import { FoldedUNet, type FoldedConv } from '../infer/folded.js';
import { loadTrainedNet } from '../infer/trained.js';
import type { CheckpointMeta } from '../train/checkpoint.js';
import { packageVersion } from '../version.js';
import { ProtoWriter } from './protobuf.js';

/** The opset written: 17 has every op used here with the attributes used here (Resize align_corners, Pad reflect). */
export const ONNX_OPSET = 17;
/** IR version 8 goes with opset 17. */
const IR_VERSION = 8;

const FLOAT = 1;
const INT64 = 7;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_STRING = 3;
const ATTRIBUTE_INTS = 7;

/** A model or an option the ONNX export cannot take (the user's input, not a failure). */
export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

export interface OnnxExportOptions {
  /** Names of the output channels; default ['foreground'] for one class, ['class0', ...] otherwise. */
  classNames?: string[];
  /** Micrometres per pixel the model was trained at, written to the metadata when given. */
  mpp?: number;
  /** Probability threshold for a binary mask; default the checkpoint's. */
  threshold?: number;
}

/** What goes into the model besides the network. */
export interface OnnxModelInfo {
  normalization: ChannelStats | null;
  threshold: number;
  classNames?: string[];
  mpp?: number;
  /** The checkpoint's working resolution: the network expects images shrunk this many times (block means); recorded, not applied. */
  downsample?: number;
  /**
   * The input is normalised already (patho's own tiling feeds it so): no
   * normalisation nodes, and `normalization` is only recorded. Default false.
   */
  normalisedInput?: boolean;
}

type Attribute = { name: string } & ({ int: number } | { ints: number[] } | { string: string });
interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attributes?: Attribute[];
}
interface Initializer {
  name: string;
  dims: number[];
  floats?: Float32Array;
  ints?: number[];
}

/** Builds the graph's node and initializer lists with unique names. */
class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  private count = 0;

  node(op: string, inputs: string[], attributes: Attribute[] = []): string {
    const out = `${op.toLowerCase()}_${this.count++}`;
    this.nodes.push({ op, inputs, outputs: [out], attributes });
    return out;
  }
  floats(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push({ name, dims, floats: values });
    return name;
  }
  ints(name: string, values: number[]): string {
    this.initializers.push({ name, dims: [values.length], ints: values });
    return name;
  }
}

function conv(g: GraphBuilder, x: string, c: FoldedConv, name: string): string {
  const weight = g.floats(`${name}.weight`, [...c.weight.shape], c.weight.toFloat32Array());
  const bias = g.floats(`${name}.bias`, [...c.bias.shape], c.bias.toFloat32Array());
  const k = c.weight.shape[2];
  if (c.transposed) {
    return g.node('ConvTranspose', [x, weight, bias], [{ name: 'kernel_shape', ints: [k, k] }, { name: 'strides', ints: [2, 2] }]);
  }
  return g.node('Conv', [x, weight, bias], [
    { name: 'kernel_shape', ints: [k, k] },
    { name: 'pads', ints: [c.padding, c.padding, c.padding, c.padding] },
  ]);
}

function doubleConv(g: GraphBuilder, x: string, convs: [FoldedConv, FoldedConv], name: string): string {
  const a = g.node('Relu', [conv(g, x, convs[0], `${name}.0`)]);
  return g.node('Relu', [conv(g, a, convs[1], `${name}.1`)]);
}

/** The graph of a folded U-Net with normalisation, padding, cropping and the output activation. */
function buildGraph(folded: FoldedUNet, info: OnnxModelInfo): GraphBuilder {
  const g = new GraphBuilder();
  const { inChannels, depth, classes } = folded.options;
  const mean = new Float32Array(inChannels);
  const std = new Float32Array(inChannels);
  for (let c = 0; c < inChannels; c++) {
    mean[c] = 255 * (info.normalization?.mean[c] ?? 0);
    std[c] = 255 * (info.normalization?.std[c] ?? 1);
  }
  // (x / 255 - mean) / std == (x - 255 mean) / (255 std)
  const normalised = info.normalisedInput
    ? 'pixels'
    : g.node('Div', [g.node('Sub', ['pixels', g.floats('mean', [1, inChannels, 1, 1], mean)]), g.floats('std', [1, inChannels, 1, 1], std)]);

  // pad height and width by reflection up to a multiple of 2^depth, as UNet.forward does ('same' padding)
  const size = g.node('Slice', [g.node('Shape', ['pixels']), g.ints('axes_hw_start', [2]), g.ints('axes_hw_end', [4])]);
  const multiple = g.ints('size_multiple', [2 ** depth, 2 ** depth]);
  const total = g.node('Mod', [g.node('Sub', [multiple, g.node('Mod', [size, multiple])]), multiple]);
  const before = g.node('Div', [total, g.ints('two', [2, 2])]);
  const after = g.node('Sub', [total, before]);
  const zeros = g.ints('zeros_nc', [0, 0]);
  const pads = g.node('Concat', [zeros, before, zeros, after], [{ name: 'axis', int: 0 }]);
  const padded = g.node('Pad', [normalised, pads], [{ name: 'mode', string: 'reflect' }]);

  const { layers } = folded;
  const skips = [doubleConv(g, padded, layers.inc, 'inc')];
  layers.downs.forEach((down, i) => {
    const pooled = g.node('MaxPool', [skips[skips.length - 1]], [{ name: 'kernel_shape', ints: [2, 2] }, { name: 'strides', ints: [2, 2] }]);
    skips.push(doubleConv(g, pooled, down, `down${i + 1}`));
  });
  let current = skips.pop()!;
  const scales = layers.ups.some((u) => !u.up.transposed) ? g.floats('scales_x2', [4], new Float32Array([1, 1, 2, 2])) : '';
  layers.ups.forEach(({ up, conv: convs }, i) => {
    const upsampled = up.transposed
      ? conv(g, current, up, `up${i + 1}.up`)
      : conv(g, g.node('Resize', [current, '', scales], [
          { name: 'mode', string: 'linear' },
          { name: 'coordinate_transformation_mode', string: 'align_corners' },
        ]), up, `up${i + 1}.up`);
    const joined = g.node('Concat', [skips.pop()!, upsampled], [{ name: 'axis', int: 1 }]);
    current = doubleConv(g, joined, convs, `up${i + 1}.conv`);
  });
  const logits = conv(g, current, layers.outc, 'outc');
  const cropped = g.node('Slice', [logits, before, g.node('Add', [before, size]), g.ints('axes_hw', [2, 3])]);
  const last = classes === 1 ? 'Sigmoid' : 'Softmax';
  g.nodes.push({ op: last, inputs: [cropped], outputs: ['probabilities'], attributes: classes === 1 ? [] : [{ name: 'axis', int: 1 }] });
  return g;
}

function writeAttribute(w: ProtoWriter, a: Attribute): void {
  w.string(1, a.name);
  if ('int' in a) w.int(20, ATTRIBUTE_INT).int(3, a.int);
  else if ('ints' in a) w.int(20, ATTRIBUTE_INTS).packedInts(8, a.ints);
  else w.int(20, ATTRIBUTE_STRING).string(4, a.string);
}

function writeTensor(w: ProtoWriter, t: Initializer): void {
  w.packedInts(1, t.dims);
  w.int(2, t.floats ? FLOAT : INT64);
  w.string(8, t.name);
  if (t.floats) w.bytes(9, new Uint8Array(t.floats.buffer, t.floats.byteOffset, t.floats.byteLength));
  else w.bytes(9, new Uint8Array(new BigInt64Array(t.ints!.map(BigInt)).buffer));
}

/** ValueInfoProto of a float32 tensor [batch, channels, height, width] with named dynamic dims. */
function writeImageValue(w: ProtoWriter, name: string, channels: number): void {
  w.string(1, name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.int(1, FLOAT);
      tensorType.message(2, (shape) => {
        shape.message(1, (d) => d.string(2, 'batch'));
        shape.message(1, (d) => d.int(1, channels));
        shape.message(1, (d) => d.string(2, 'height'));
        shape.message(1, (d) => d.string(2, 'width'));
      });
    }),
  );
}

/** The metadata_props written: class names, threshold, mpp (when known), how inputs are scaled. */
export function onnxMetadata(net: UNet, info: OnnxModelInfo): Record<string, string> {
  const { classes } = net.options;
  const classNames = info.classNames ?? (classes === 1 ? ['foreground'] : Array.from({ length: classes }, (_, i) => `class${i}`));
  if (classNames.length !== classes) {
    throw new OnnxExportError(`class names: the model has ${classes} output channel${classes === 1 ? '' : 's'}, ${classNames.length} names were given (${classNames.join(', ')})`);
  }
  const meta: Record<string, string> = {
    class_names: JSON.stringify(classNames),
    threshold: String(info.threshold),
    input_range: info.normalisedInput ? 'normalised' : '0-255',
    output: classes === 1 ? 'sigmoid' : 'softmax',
    normalization: JSON.stringify(info.normalization),
  };
  if (info.mpp !== undefined) meta.mpp = String(info.mpp);
  // a model trained at a working resolution: whoever runs it must shrink images as patho does (block means), and grow its outputs back
  if (info.downsample !== undefined && info.downsample > 1) meta.downsample = String(info.downsample);
  return meta;
}

/** What the export of a checkpoint writes besides the network: its normalisation and threshold, overridden by `options`. */
export function onnxModelInfo(meta: CheckpointMeta, options: OnnxExportOptions = {}): OnnxModelInfo {
  return {
    normalization: meta.normalization,
    threshold: options.threshold ?? meta.threshold,
    classNames: options.classNames,
    mpp: options.mpp,
    downsample: meta.downsample ?? 1,
  };
}

/** The ONNX ModelProto bytes of a U-Net (in eval mode; its batch norms are folded on the way). */
export function onnxModelBytes(net: UNet, info: OnnxModelInfo): Uint8Array {
  if (net.options.padding !== 'same') {
    throw new OnnxExportError(`ONNX export supports U-Nets with padding 'same'; this one has padding '${net.options.padding}'`);
  }
  const metadata = onnxMetadata(net, info);
  const folded = new FoldedUNet(net, { memoryFormat: 'contiguous' });
  try {
    const g = buildGraph(folded, info);
    const w = new ProtoWriter();
    w.int(1, IR_VERSION);
    w.string(2, 'patho');
    w.string(3, packageVersion());
    w.message(8, (opset) => opset.string(1, '').int(2, ONNX_OPSET));
    w.message(7, (graph) => {
      for (const n of g.nodes) {
        graph.message(1, (node) => {
          for (const i of n.inputs) node.string(1, i);
          for (const o of n.outputs) node.string(2, o);
          node.string(3, n.outputs[0]);
          node.string(4, n.op);
          for (const a of n.attributes ?? []) node.message(5, (attr) => writeAttribute(attr, a));
        });
      }
      graph.string(2, 'patho_unet');
      for (const t of g.initializers) graph.message(5, (tensor) => writeTensor(tensor, t));
      graph.message(11, (v) => writeImageValue(v, 'pixels', net.options.inChannels));
      graph.message(12, (v) => writeImageValue(v, 'probabilities', net.options.classes));
    });
    for (const [key, value] of Object.entries(metadata)) w.message(14, (entry) => entry.string(1, key).string(2, value));
    return w.finish();
  } finally {
    folded.dispose();
  }
}

/**
 * Writes the ONNX model of a patho checkpoint to `outPath`; returns the
 * metadata written.
 *
 *   await exportOnnx('runs/glas/model.pt', 'glas.onnx', { classNames: ['gland'], mpp: 0.62 });
 */
export async function exportOnnx(checkpointPath: string, outPath: string, options: OnnxExportOptions = {}): Promise<Record<string, string>> {
  const { net, meta } = await loadTrainedNet(checkpointPath);
  try {
    const info = onnxModelInfo(meta, options);
    const bytes = onnxModelBytes(net, info);
    await writeFile(outPath, bytes);
    return onnxMetadata(net, info);
  } finally {
    net.dispose();
  }
}
