import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadBackend } from '../shared/backend/backends';
import { buildModel, ModelSpec } from '../shared/model/models';
import { describeParameters, ParameterLayout, statisticVariables, trainableVariables } from '../shared/model/parameters';

before(async () => {
  await loadBackend('cpu');
});

/** `name@depth`, with a trailing `bn` for batch-norm parameters, so one string shows the whole layout. */
function layoutLines(layout: ParameterLayout): string[] {
  return layout.parameters.map((p) => `${p.name}@${p.depth}${p.isBatchNorm ? ' bn' : ''}`);
}

const MLP: ModelSpec = { name: 'mlp', inputShape: [28, 28, 1], numClasses: 10 };
const CNN: ModelSpec = { name: 'cnn', inputShape: [8, 8, 1], numClasses: 3 };
const RESNET: ModelSpec = { name: 'resnet20', inputShape: [8, 8, 3], numClasses: 10 };

/**
 * Returns the ResNet-20 layout written out from its architecture: a stem, then three
 * stages of three blocks with two 3x3 convolutions each, and a 1x1 shortcut
 * in the first block of stages 2 and 3. Every convolution starts a new depth
 * and each batch norm shares the depth of the convolution it follows. The
 * functional model lists layers in topological order, so in a downsampling
 * block the shortcut convolution comes right after conv2 and before bn2.
 */
function expectedResnetLayout(): string[] {
  const lines = ['stem_conv/kernel@0', 'stem_bn/gamma@0 bn', 'stem_bn/beta@0 bn'];
  let depth = 0;
  for (let stage = 1; stage <= 3; stage++) {
    for (let block = 1; block <= 3; block++) {
      const prefix = `s${stage}b${block}`;
      const conv1 = ++depth;
      const conv2 = ++depth;
      lines.push(`${prefix}_conv1/kernel@${conv1}`, `${prefix}_bn1/gamma@${conv1} bn`, `${prefix}_bn1/beta@${conv1} bn`);
      lines.push(`${prefix}_conv2/kernel@${conv2}`);
      if (stage > 1 && block === 1) {
        const shortcut = ++depth;
        lines.push(`${prefix}_shortcut/kernel@${shortcut}`);
        lines.push(`${prefix}_bn2/gamma@${conv2} bn`, `${prefix}_bn2/beta@${conv2} bn`);
        lines.push(`${prefix}_shortcut_bn/gamma@${shortcut} bn`, `${prefix}_shortcut_bn/beta@${shortcut} bn`);
      } else {
        lines.push(`${prefix}_bn2/gamma@${conv2} bn`, `${prefix}_bn2/beta@${conv2} bn`);
      }
    }
  }
  lines.push(`logits/kernel@${depth + 1}`, `logits/bias@${depth + 1}`);
  return lines;
}

describe('describeParameters layout', () => {
  it('lists mlp layers in order', () => {
    const layout = describeParameters(buildModel(MLP, 1));
    assert.deepEqual(layoutLines(layout), [
      'dense1/kernel@0',
      'dense1/bias@0',
      'dense2/kernel@1',
      'dense2/bias@1',
      'logits/kernel@2',
      'logits/bias@2',
    ]);
    assert.deepEqual(layout.parameters.map((p) => p.shape), [[784, 256], [256], [256, 128], [128], [128, 10], [10]]);
    assert.equal(layout.depthCount, 3);
    // 784*256 + 256 + 256*128 + 128 + 128*10 + 10 = 200704 + 256 + 32768 + 128 + 1280 + 10
    assert.equal(layout.totalSize, 235146);
    assert.deepEqual(layout.statistics, []);
  });

  it('lists cnn layers in order', () => {
    const layout = describeParameters(buildModel(CNN, 1));
    assert.deepEqual(layoutLines(layout), [
      'conv1/kernel@0',
      'bn1/gamma@0 bn',
      'bn1/beta@0 bn',
      'conv2/kernel@1',
      'bn2/gamma@1 bn',
      'bn2/beta@1 bn',
      'dense1/kernel@2',
      'dense1/bias@2',
      'logits/kernel@3',
      'logits/bias@3',
    ]);
    // 8x8 input, two 2x2 poolings: 2x2x64 = 256 features into dense1.
    assert.deepEqual(layout.parameters.map((p) => p.shape), [[3, 3, 1, 32], [32], [32], [3, 3, 32, 64], [64], [64], [256, 128], [128], [128, 3], [3]]);
    assert.equal(layout.depthCount, 4);
    // 288 + 32 + 32 + 18432 + 64 + 64 + 32768 + 128 + 384 + 3
    assert.equal(layout.totalSize, 52195);
    assert.deepEqual(
      layout.statistics.map((s) => `${s.name}:${s.shape.join('x')}`),
      ['bn1/moving_mean:32', 'bn1/moving_variance:32', 'bn2/moving_mean:64', 'bn2/moving_variance:64'],
    );
  });

  it('lists resnet20 layers in order', () => {
    const layout = describeParameters(buildModel(RESNET, 1));
    assert.deepEqual(layoutLines(layout), expectedResnetLayout());
    // 19 3x3 convolutions, 2 shortcut convolutions and the classifier.
    assert.equal(layout.depthCount, 22);
    // stem:       432 + 32                                         =    464
    // stage 1:    6 * 2304 + 6 * 32                                =  14016
    // stage 2:    4608 + 5 * 9216 + 6 * 64 + 512 + 64              =  51648
    // stage 3:    18432 + 5 * 36864 + 6 * 128 + 2048 + 128         = 205696
    // classifier: 64 * 10 + 10                                     =    650
    // total:      464 + 14016 + 51648 + 205696 + 650               = 272474
    assert.equal(layout.totalSize, 272474);
    // 21 batch norms (stem, two per block, two shortcuts), two statistics each.
    assert.equal(layout.statistics.length, 42);
  });

  it('is identical across two builds', () => {
    for (const spec of [MLP, CNN, RESNET]) {
      // TF.js gives the second build's variables unique suffixes (`conv1/kernel_1`), so the layout must strip them.
      const first = describeParameters(buildModel(spec, 1));
      const second = describeParameters(buildModel(spec, 2));
      assert.deepEqual(second, first, spec.name);
    }
  });

  it('keeps running statistics out of parameters', () => {
    for (const spec of [CNN, RESNET]) {
      const model = buildModel(spec, 1);
      const layout = describeParameters(model);
      const names = layout.parameters.map((p) => p.name);
      assert.ok(!names.some((name) => /moving_(mean|variance)$/.test(name)), spec.name);
      assert.ok(layout.statistics.every((s) => /\/moving_(mean|variance)$/.test(s.name)), spec.name);

      const variables = trainableVariables(model);
      assert.equal(variables.length, layout.parameters.length);
      variables.forEach((v, i) => assert.deepEqual(v.shape, layout.parameters[i].shape, layout.parameters[i].name));
      const statistics = statisticVariables(model);
      assert.equal(statistics.length, layout.statistics.length);
      statistics.forEach((v, i) => assert.deepEqual(v.shape, layout.statistics[i].shape, layout.statistics[i].name));
    }
  });

  it('gives each model its own signature', () => {
    const signatures = [MLP, CNN, RESNET].map((spec) => describeParameters(buildModel(spec, 1)).signature);
    assert.equal(new Set(signatures).size, 3);
    for (const signature of signatures) assert.match(signature, /^[0-9a-f]{16}$/);

    const otherClasses = describeParameters(buildModel({ ...CNN, numClasses: 4 }, 1)).signature;
    assert.notEqual(otherClasses, signatures[1]);
    const otherInput = describeParameters(buildModel({ ...CNN, inputShape: [12, 12, 1] }, 1)).signature;
    assert.notEqual(otherInput, signatures[1]);
  });
});
