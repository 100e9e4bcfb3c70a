import {
  createWatermarker, combineEvidence, EvidenceSum, psnr, ssim, init, checkImageFileSize, imageHeader, parsePayload, payloadHex,
  ModelmarkError, DEFAULT_THRESHOLD, WATERMARKER_OPTION_NAMES,
  type Watermarker, type WatermarkerOptions, type DetectResult, type Evidence, type CombinedEvidence, type Image, type SampleImage, type ImageHeader, type Transform, type RegionMap, type PieceResult,
} from 'modelmark';

export async function main(key: string, strength: number | undefined, image: Image, rgb16: Uint16Array, bytes: Uint8Array): Promise<void> {
  const options: WatermarkerOptions = { key, strength, threshold: DEFAULT_THRESHOLD, search: undefined };
  const wm: Watermarker = await createWatermarker(options);
  const marked = wm.embed(image, 'c0ffee00deadbeef');
  const channels: 1 | 2 | 3 | 4 = marked.channels;
  wm.embed(image, 0xc0ffee00deadbeefn, { inPlace: true });
  const deep = wm.embed({ width: 256, height: 256, channels: 3, data: rgb16 }, new Uint8Array(8));
  const samples: Uint16Array = deep.data;
  const result: DetectResult = wm.detect(marked);
  if (result.found && result.payload !== null) console.log(result.payload.toUpperCase(), result.pValue, result.score, result.crcOk);
  const t: Transform | null = result.transform;
  const r: RegionMap | null = result.regions;
  wm.detect(image, { search: false });
  const pieces: PieceResult[] | undefined = wm.detect(image, { pieces: 'all' }).pieces;
  if (pieces?.[0]?.found) console.log(pieces[0].payload, pieces[0].transform?.translation);
  const withEvidence = wm.detect(image, { evidence: true });
  const ev: Evidence | undefined = withEvidence.evidence;
  const images: SampleImage[] = [image, marked];
  const combined: CombinedEvidence = combineEvidence(images.map((i) => wm.evidence(i)));
  console.log(combined.count, combined.t, combined.dof, combined.pValue, combined.found, ev, t, r, channels, samples);
  const sum = new EvidenceSum();
  sum.add(wm.evidence(image));
  console.log(await psnr(image, marked), await ssim(image, marked));
  const header: ImageHeader | undefined = imageHeader(bytes);
  checkImageFileSize(bytes, 50_000_000, 'upload.png');
  console.log(header, payloadHex(parsePayload('c0ffee00deadbeef')), WATERMARKER_OPTION_NAMES.length);
  try {
    await init();
  } catch (err) {
    if (err instanceof ModelmarkError && err.code === 'ERR_WASM') console.error(err.message);
  }
  // A detect result is plain data: it goes through JSON.
  const json: string = JSON.stringify(result);
  console.log(json);
}
