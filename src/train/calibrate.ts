export async function calibrate(_o: { models: string; photos: string; holdOut: boolean; onLog?: (l: string) => void }): Promise<{ threshold: number; record: Record<string, unknown> }> {
  return { threshold: 0.5, record: { placeholder: true } };
}
