import { killLoads } from './load';
import { killAll } from './unicorn';

// Every process a test started is killed by pid when the test ends, pass or fail.
afterEach(async () => {
  killLoads();
  await killAll();
});
