import { killLoads } from './load';
import { killNginxes } from './nginx';
import { killAll } from './unicorn';

// Every process a test started is killed by pid when the test ends, pass or fail.
afterEach(async () => {
  killLoads();
  await Promise.all([killAll(), killNginxes()]);
});
