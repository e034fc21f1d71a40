/**
 * The ISBI 2012 EM challenge's foreground-restricted scores (Arganda-Carreras
 * et al., "Crowdsourcing the creation of image segmentation algorithms for
 * connectomics", Front. Neuroanat. 2015), as Fiji's Trainable Segmentation
 * computes them (trainableSegmentation.metrics: RandError
 * getForegroundRestrictedRandIndexStatsN2, VariationOfInformation
 * foregroundRestrictedFscore).
 *
 * Regions: the 4-connected components of the non-membrane (foreground)
 * pixels, in the truth and in the thresholded prediction; a mask with
 * several nonzero values is taken as instance labels instead. Only pixels
 * in a true region count (the foreground restriction); a counted pixel the
 * prediction calls membrane is a region of its own (a singleton). With n
 * counted pixels, n_ij of them in true region i and predicted region j,
 * a_i = Σ_j n_ij (true region sizes, singletons included), b_j = Σ_i n_ij
 * (predicted region sizes within the truth's foreground) and n0 singletons:
 *
 *   Rand:  V_rand = Σ n_ij² / (0.5 Σ a_i² + 0.5 Σ b_j²)   (each sum + n0 for the singletons
 *          on the prediction's side), the harmonic mean of the split score
 *          Σ n_ij² / Σ a_i² and the merge score Σ n_ij² / Σ b_j².
 *   Info:  with p = counts / n, H(T) = -Σ a_i log a_i, H(S) = -Σ b_j log b_j + n0/n log n,
 *          H(S,T) = -Σ p_ij log p_ij + n0/n log n, I = H(S) + H(T) - H(S,T):
 *          V_info = 2 I / (H(S) + H(T)); as in Fiji it is 0 when either
 *          entropy is 0 (a single region), and 0 when I is 0.
 *
 * Over several images V_rand pools the pair counts (Fiji sums the true and
 * false positive pairs of every slice) and V_info is the mean of the
 * images' scores (Fiji averages its F-score per slice). Images without
 * foreground in the truth have no pairs and are left out of both.
 *
 * Not computed: the leaderboard's variants that thin the borders to one
 * pixel and take the best score over thresholds; these are at one threshold,
 * on the borders as predicted.
 */
import { type Components, ComponentScoreAccumulator, pairCounts } from './components.js';

/** ISBI scores of one image, or of a data set. */
export interface IsbiScores {
  /** foreground-restricted Rand score (F-score of split and merge) */
  vRand: number;
  /** Σ n_ij² / Σ a_i²: 1 when no true region is split */
  vRandSplit: number;
  /** Σ n_ij² / Σ b_j²: 1 when no predicted region merges true ones */
  vRandMerge: number;
  /** foreground-restricted information-theoretic score */
  vInfo: number;
}

export interface IsbiReport extends IsbiScores {
  /** the probability threshold of the prediction (p >= threshold is foreground) */
  threshold: number;
  /** images with foreground in the truth (the others have no score) */
  images: number;
  perImage: ({ name: string } & IsbiScores)[];
}

/** Pair sums of one image, in pixel² (the 1/n² of probabilities cancels in every ratio). */
interface RandSums {
  ab: number;
  a: number;
  b: number;
}

/** V_rand's pair sums and V_info of one image: predicted regions `s`, true regions `t`. */
function isbiImage(s: Components, t: Components): { sums: RandSums; n: number; vInfo: number } {
  const joint = pairCounts(t, s);
  // true region sizes count every pixel of the region, the predicted ones only pixels inside true regions
  const trueSizes = t.areas;
  const predictedSizes = new Float64Array(s.count + 1);
  for (const [key, c] of joint) predictedSizes[key % (s.count + 1)] += c;
  const n = trueSizes.reduce((sum, c) => sum + c, 0);
  const singletons = n - predictedSizes.reduce((sum, c) => sum + c, 0);
  const sums: RandSums = { ab: singletons, a: 0, b: singletons };
  let hT = 0;
  let hS = 0;
  let hST = 0;
  const plogp = (count: number) => (count / n) * Math.log(count / n);
  for (const c of joint.values()) {
    sums.ab += c * c;
    hST -= plogp(c);
  }
  for (const c of trueSizes) {
    sums.a += c * c;
    if (c > 0) hT -= plogp(c);
  }
  for (const c of predictedSizes) {
    sums.b += c * c;
    if (c > 0) hS -= plogp(c);
  }
  if (n > 0) {
    hS += (singletons / n) * Math.log(n);
    hST += (singletons / n) * Math.log(n);
  }
  const mutual = hS + hT - hST;
  const vInfo = n === 0 ? NaN : hS === 0 || hT === 0 || mutual === 0 ? 0 : (2 * mutual) / (hS + hT);
  return { sums, n, vInfo };
}

function randScores(sums: RandSums): Omit<IsbiScores, 'vInfo'> {
  return { vRand: (2 * sums.ab) / (sums.a + sums.b), vRandSplit: sums.ab / sums.a, vRandMerge: sums.ab / sums.b };
}

/** Pools the ISBI scores over images (4-connected regions, as Fiji). */
export class IsbiMetricAccumulator extends ComponentScoreAccumulator<IsbiReport['perImage'][number]> {
  // sums: [images with foreground, Σab, Σa, Σb, Σ V_info]
  protected readonly connectivity = 4;

  /** @param counts a previous `counts()` (or a sum of several) to start from */
  constructor(threshold = 0.5, counts?: Float64Array) {
    super(threshold, 5, counts);
  }

  protected addImage(name: string, predicted: Components, truth: Components): IsbiReport['perImage'][number] {
    const { sums, n, vInfo } = isbiImage(predicted, truth);
    if (n === 0) return { name, vRand: NaN, vRandSplit: NaN, vRandMerge: NaN, vInfo };
    this.sums[0]++;
    this.sums[1] += sums.ab;
    this.sums[2] += sums.a;
    this.sums[3] += sums.b;
    this.sums[4] += vInfo;
    return { name, ...randScores(sums), vInfo };
  }

  result(): IsbiReport {
    const [images, ab, a, b, vInfo] = this.sums;
    return { threshold: this.threshold, images, ...randScores({ ab, a, b }), vInfo: vInfo / images, perImage: this.perImage };
  }
}
