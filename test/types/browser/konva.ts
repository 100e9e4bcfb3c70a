import Konva from 'konva';
import { createModelmarkFilter } from 'modelmark/konva';
export async function main(photo: HTMLImageElement, layer: Konva.Layer, stage: Konva.Stage): Promise<string> {
  const Modelmark = await createModelmarkFilter({ key: 'my secret', Konva });
  const image = new Konva.Image({ image: photo, modelmarkPayload: 'c0ffee0000000001' });
  layer.add(image);
  image.cache({ pixelRatio: 1 });
  image.filters([Modelmark]);
  image.modelmarkPayload('c0ffee0000000002');
  const p: string | undefined = image.modelmarkPayload();
  console.log(p);
  return stage.toDataURL({ pixelRatio: 1 });
}
