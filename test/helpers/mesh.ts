import { silentLogger } from '../../shared/log';
import { ByteCounter } from '../../shared/net/byte-counter';
import { PeerMesh } from '../../worker/peer-mesh';

export const TEST_TOKEN = 'test-token-0123456789';

/** Starts `members` peer meshes on loopback with port 0 and links them all. */
export async function linkedMeshes(members: number, runId = 'test-run'): Promise<{ meshes: PeerMesh[]; counters: ByteCounter[] }> {
  const counters = Array.from({ length: members }, () => new ByteCounter());
  const meshes = counters.map(
    (counter, rank) =>
      new PeerMesh({ rank, members, runId, token: TEST_TOKEN, listenHost: '127.0.0.1', listenPort: 0, maxFrameBytes: 1 << 20, receiveTimeoutMs: 10_000, maxPendingFrames: 8, log: silentLogger, counter }),
  );
  const ports = await Promise.all(meshes.map((mesh) => mesh.start()));
  const peers = ports.map((port, rank) => ({ rank, url: `ws://127.0.0.1:${port}` }));
  await Promise.all(meshes.map((mesh) => mesh.connectAll(peers, 10_000)));
  return { meshes, counters };
}
