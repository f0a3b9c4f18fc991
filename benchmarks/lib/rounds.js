// How every scenario runs its contenders: each once a round, round after round, alternating them so
// that a slow spell of a shared machine falls on all of them rather than on one.
'use strict';

/** `measure(contender)` for each contender, `ctx.rounds` times; the results by contender name, in
 *  the order measured. `describe(result)` is the progress line of one measurement. */
async function alternate(ctx, scenario, contenders, measure, describe) {
  const runs = new Map(contenders.map((c) => [c.name, []]));
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const contender of contenders) {
      const result = await measure(contender);
      runs.get(contender.name).push(result);
      ctx.progress(`${scenario} round ${round}: ${contender.name}: ${describe(result)}`);
    }
  }
  return runs;
}

module.exports = { alternate };
