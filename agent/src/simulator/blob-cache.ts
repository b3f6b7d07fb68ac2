// Blobs shared by every simulated device, by SHA-256: 10,000 devices writing the same file cost
// one download. The first device that needs a blob downloads it with its own credential (the
// server checks every device's access the same way); the bytes are verified by the blob client
// before they are cached; failures are not cached. Bounded by `maxBytes` (oldest evicted).
import type { FetchBlob } from '../executors/context.ts';
import { createBlobFetcher, type BlobFetcherOptions } from '../transport/blob-client.ts';

export interface BlobCacheStats {
  hits: number;
  downloads: number;
  bytes: number;
}

export class SharedBlobCache {
  private readonly entries = new Map<string, Promise<Uint8Array>>();
  private readonly sizes = new Map<string, number>();
  private total = 0;
  readonly stats: BlobCacheStats = { hits: 0, downloads: 0, bytes: 0 };

  constructor(
    private readonly options: Omit<BlobFetcherOptions, 'authorize'> & { maxBytes?: number },
  ) {}

  /** A FetchBlob for one device: its signed request is used when the blob is not cached yet. */
  forDevice(authorize: BlobFetcherOptions['authorize']): FetchBlob {
    const download = createBlobFetcher({ ...this.options, authorize });
    return async (sha256, { signal } = {}) => {
      let entry = this.entries.get(sha256);
      if (entry) {
        this.stats.hits++;
      } else {
        this.stats.downloads++;
        // Not bound to this caller's signal: other devices may be waiting on the same download.
        entry = download(sha256).then((bytes) => {
          this.remember(sha256, bytes.length);
          return bytes;
        });
        this.entries.set(sha256, entry);
        entry.catch(() => {
          if (this.entries.get(sha256) === entry) this.entries.delete(sha256);
        });
      }
      return signal ? raceAbort(entry, signal) : entry;
    };
  }

  private remember(sha256: string, size: number): void {
    this.sizes.set(sha256, size);
    this.total += size;
    this.stats.bytes = this.total;
    const max = this.options.maxBytes ?? 512 * 1024 * 1024;
    for (const [key, bytes] of this.sizes) {
      if (this.total <= max || key === sha256) break;
      this.sizes.delete(key);
      this.entries.delete(key);
      this.total -= bytes;
      this.stats.bytes = this.total;
    }
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
