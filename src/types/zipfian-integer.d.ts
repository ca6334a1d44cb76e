declare module 'zipfian-integer' {
  /** Returns a sampler of integers in [min, max], skewed towards min for skew > 0 (Zipf's law). */
  export default function zipfian(min: number, max: number, skew: number, rng?: () => number): () => number;
}
