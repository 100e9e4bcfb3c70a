import { FabricImage } from 'fabric';
import { ModelmarkFilter, setModelmarkKeyProvider } from 'modelmark/fabric';
export async function main(): Promise<void> {
  const image = await FabricImage.fromURL('photo.jpg');
  image.filters.push(await ModelmarkFilter.create({ key: 'my secret', payload: 'c0ffee0000000001' }));
  image.applyFilters();
  setModelmarkKeyProvider(() => 'my secret');
  const restored = await FabricImage.fromObject(image.toObject());
  const f = new ModelmarkFilter({ payload: 'c0ffee0000000001', strength: 1 });
  await f.prepare('my secret');
  console.log(restored.filters.length, f.toObject().payload);
}
