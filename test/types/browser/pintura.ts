import { appendDefaultEditor } from '@pqina/pintura';
import { createPostprocessImageData } from 'modelmark/pintura';
appendDefaultEditor('#editor', {
  src: 'photo.jpeg',
  imageWriter: { postprocessImageData: createPostprocessImageData({ key: 'my secret', payload: 'c0ffee0000000001' }) },
});
