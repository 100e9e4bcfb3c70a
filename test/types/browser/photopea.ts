import { startPhotopeaPlugin, connectPhotopea } from 'modelmark/photopea';
export async function main(root: HTMLElement): Promise<void> {
  const plugin = startPhotopeaPlugin(root, { origin: 'https://photopea.example.com', strength: 1.5, placement: 'layer' });
  const outcome = await plugin.mark();
  console.log(outcome.result.found);
  plugin.destroy();
  const c = connectPhotopea({ origin: 'https://www.photopea.com' });
  c.close();
}
