/**
 * Jest's own order (failed first, then slowest first), except the files under
 * test/final/, which run last and in name order: they check what all the other
 * suites left behind (e.g. no secret in any Temporal history). With
 * maxWorkers 1 the files run one after another in this order.
 */
const Sequencer = require('@jest/test-sequencer').default;
const path = require('node:path');

const FINAL = `${path.sep}test${path.sep}final${path.sep}`;

class FinalLast extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    const isFinal = (t) => t.path.includes(FINAL);
    return [
      ...sorted.filter((t) => !isFinal(t)),
      ...sorted.filter(isFinal).sort((a, b) => a.path.localeCompare(b.path)),
    ];
  }
}

module.exports = FinalLast;
