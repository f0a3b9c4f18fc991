import { killBrowsers } from './browser';
import { killLoads } from './load';
import { killNginxes } from './nginx';
import { closeAll } from './raw';
import { killAll } from './unicorn';

// Every process a test started is killed by pid when the test ends, pass or fail; every raw
// connection it left open is closed.
afterEach(async () => {
  killLoads();
  closeAll();
  await Promise.all([killAll(), killNginxes(), killBrowsers()]);
});
