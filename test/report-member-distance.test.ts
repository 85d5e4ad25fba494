import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { meanDistanceToCentroid } from '../coordinator/member-distance';

const member = (...tensors: number[][]): Float32Array[] => tensors.map((t) => Float32Array.from(t));

describe('meanDistanceToCentroid', () => {
  it('measures two members on a line', () => {
    // [0, 0] and [2, 0]: centroid [1, 0], each member 1 away, mean 1.
    assert.equal(meanDistanceToCentroid([member([0, 0]), member([2, 0])]), 1);
  });

  it('adds up every tensor of a member', () => {
    // Tensors [0] and [0] against [3] and [4]: centroid [1.5] and [2];
    // each member is sqrt(1.5^2 + 2^2) = sqrt(6.25) = 2.5 away, mean 2.5.
    assert.equal(meanDistanceToCentroid([member([0], [0]), member([3], [4])]), 2.5);
  });

  it('averages unequal distances of three members', () => {
    // [0, 0], [3, 0], [0, 3]: centroid [1, 1]; distances sqrt(1 + 1), sqrt(4 + 1), sqrt(1 + 4);
    // mean (sqrt(2) + 2 * sqrt(5)) / 3 = 1.9621...
    const expected = (Math.SQRT2 + 2 * Math.sqrt(5)) / 3;
    const actual = meanDistanceToCentroid([member([0, 0]), member([3, 0]), member([0, 3])]);
    assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} is not ${expected}`);
  });

  it('is zero for equal members', () => {
    assert.equal(meanDistanceToCentroid([member([1, 2], [3]), member([1, 2], [3])]), 0);
  });

  it('is zero for no members', () => {
    assert.equal(meanDistanceToCentroid([]), 0);
  });
});
