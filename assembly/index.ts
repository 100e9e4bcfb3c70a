import "./env";
export { alloc, mark, release, zero, touch } from "./memory";
export { rgbToY, rgbToYcc, yccToRgb } from "./color";
export { areaResize, bilinearResize, lumaArea, addLuma } from "./resample";
export { dct8x8 } from "./dct";
export { hash, random, chips, layout } from "./chips";
export { blockStats, maskWeights, spreadEmbed, fold, correlate } from "./spread";
export { sse, ssim } from "./metrics";
