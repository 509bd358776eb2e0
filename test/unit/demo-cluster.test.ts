import { DemoUsageError, parseDemoArgs, planBridges } from '../../src/demo-cluster.js';

describe('parseDemoArgs', () => {
  test('no arguments: the one-process demo', () => {
    expect(parseDemoArgs([])).toEqual({});
  });

  test('--cluster N and --cluster=N', () => {
    expect(parseDemoArgs(['--cluster', '2'])).toEqual({ cluster: 2 });
    expect(parseDemoArgs(['--cluster=3'])).toEqual({ cluster: 3 });
  });

  test.each([[['--cluster']], [['--cluster', '0']], [['--cluster', 'two']], [['--cluster=1.5']], [['--cluster', '17']], [['--cluster=']], [['--clusters', '2']], [['2']]])(
    '%j is refused with a message',
    (argv) => {
      expect(() => parseDemoArgs(argv)).toThrow(DemoUsageError);
    },
  );
});

describe('planBridges', () => {
  const backends = ['http://127.0.0.1:40001', 'http://127.0.0.1:40002'];

  test('one Redis, backends and upload folder for all; ports counted up from 8000 and 8188', () => {
    const plans = planBridges(3, {}, 'redis://127.0.0.1:6399', backends);
    expect(plans.map((p) => [p.number, p.port, p.compatPort])).toEqual([
      [1, 8000, 8188],
      [2, 8001, 8189],
      [3, 8002, 8190],
    ]);
    for (const plan of plans) {
      expect(plan.env).toMatchObject({
        REDIS_URL: 'redis://127.0.0.1:6399',
        REDIS_PREFIX: 'comfy-bridge-demo:',
        COMFYUI_SERVERS: backends.join(','),
        UPLOAD_DIR: '.demo/cluster/uploads',
        LOG_FORMAT: 'pretty',
        PORT: String(plan.port),
        COMFY_COMPAT_PORT: String(plan.compatPort),
      });
    }
    // Nothing of one process's own lands where another's is.
    expect(new Set(plans.map((p) => p.env.DATA_DIR)).size).toBe(3);
    expect(new Set(plans.map((p) => p.env.CURRENT_STATE)).size).toBe(3);
  });

  test('PORT and COMFY_COMPAT_PORT are the bases when set; a compatible door turned off stays off', () => {
    const plans = planBridges(2, { PORT: '9000', COMFY_COMPAT_PORT: '0', UPLOAD_DIR: '/srv/shared', REDIS_PREFIX: 'mine:' }, 'redis://r', backends);
    expect(plans.map((p) => [p.port, p.compatPort, p.env.COMFY_COMPAT_PORT])).toEqual([
      [9000, 0, '0'],
      [9001, 0, '0'],
    ]);
    expect(plans[0].env).toMatchObject({ UPLOAD_DIR: '/srv/shared', REDIS_PREFIX: 'mine:' });
  });

  test('a base that cannot count up that far is refused, naming the setting', () => {
    expect(() => planBridges(2, { PORT: '65535' }, 'redis://r', backends)).toThrow(/PORT="65535"/);
    expect(() => planBridges(2, { PORT: '0' }, 'redis://r', backends)).toThrow(/PORT="0"/);
    expect(() => planBridges(2, { COMFY_COMPAT_PORT: 'x' }, 'redis://r', backends)).toThrow(/COMFY_COMPAT_PORT/);
  });
});
