import { WashError } from '../errors';
import { ParameterLayout } from '../model/parameters';

/**
 * Which tensors of a layout take part in shuffles: `all`, `no-batch-norm`
 * (every tensor but batch-norm scales and offsets), or a comma-separated list
 * of layer names. An unknown layer name is an error that lists the valid ones.
 */
export function shuffledTensors(layout: ParameterLayout, selection: string): boolean[] {
  const choice = selection.trim();
  if (choice === 'all') return layout.parameters.map(() => true);
  if (choice === 'no-batch-norm') return layout.parameters.map((p) => !p.isBatchNorm);
  const names = new Set(choice.split(',').map((name) => name.trim()).filter(Boolean));
  const known = new Set(layout.parameters.map((p) => p.layerName));
  const unknown = [...names].filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new WashError('WASH_ERR_CONFIG', `invalid shuffle layers: no layer named ${unknown.join(', ')}; expected all, no-batch-norm or names from ${[...known].join(', ')}`);
  }
  return layout.parameters.map((p) => names.has(p.layerName));
}
