/** Segmentation metrics over plain typed arrays (no addon needed). */
export {
  type BinaryScores,
  type ConfusionCounts,
  DEFAULT_THRESHOLDS,
  scoresFromCounts,
} from './scores.js';
export {
  type BinaryMetrics,
  type Probabilities,
  type ThresholdMetrics,
  BinaryMetricAccumulator,
  binaryMetrics,
  countBinary,
} from './binary.js';
export { type BoundaryErrors, BOUNDARY_BANDS, BoundaryErrorAccumulator } from './boundary.js';
export { type SweepOptions, type SweepResult, ThresholdSweep, sweepThresholds } from './sweep.js';
export {
  type ClassScores,
  type MulticlassMetrics,
  MulticlassMetricAccumulator,
  multiclassMetrics,
} from './multiclass.js';
export { type Connectivity, type Components, labelComponents, maskComponents } from './components.js';
export { type GlasReport, type GlasScores, GlasMetricAccumulator } from './objects.js';
export { type IsbiReport, type IsbiScores, IsbiMetricAccumulator } from './rand.js';
export { type ObjectMetricKind, objectMetricKind } from './structures.js';
