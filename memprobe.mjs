import { openStore, push } from './dist/src/index.js';

const mb = (n) => (n / 1048576).toFixed(0);
const show = (label) => {
  const m = process.memoryUsage();
  console.log(
    label,
    'rss',
    mb(m.rss),
    'heapTotal',
    mb(m.heapTotal),
    'heapUsed',
    mb(m.heapUsed),
    'external',
    mb(m.external),
    'ab',
    mb(m.arrayBuffers),
  );
};
show('start');
const store = await openStore(process.argv[2]);
show('opened');
const timer = setInterval(() => show('tick'), 400);
const r = await push({
  dir: '/tmp/bt-small',
  target: store,
  name: 'bench',
  tag: 'x',
  cacheDir: process.argv[3],
  noCache: process.argv[4] === 'nocache',
});
clearInterval(timer);
show('end');
console.log('peak', mb(r.peakRssBytes));
