import { ConfigError, loadConfig, parseServer } from '../../src/config.js';

/** The message of the ConfigError that `loadConfig(env)` throws; fails the test if it does not throw one. */
function configProblem(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(Error);
    return (err as Error).message;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig defaults', () => {
  test('an empty environment gives the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8000,
      comfyServers: ['http://127.0.0.1:8188'],
      workflowDir: 'workflows',
      workflowAlias: 'workflow_alias.json',
      currentState: 'current_state.json',
      uploadDir: 'uploads',
      dataDir: 'data',
      uploadMaxBytes: 100 * 1024 * 1024,
      prefetch: 1,
      heartbeatMs: 10_000,
      disconnectGraceMs: 5_000,
      healthIntervalMs: 2_000,
      backendTimeoutMs: 10_000,
      healthFailures: 2,
      logLevel: 'info',
    });
  });

  test('empty and blank values fall back to the defaults', () => {
    const config = loadConfig({
      HOST: '',
      PORT: '   ',
      COMFYUI_SERVERS: '',
      WORKFLOW_DIR: ' ',
      UPLOAD_MAX_SIZE: '',
      LOG_LEVEL: '\t',
      DATA_DIR: undefined,
    });
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(8000);
    expect(config.comfyServers).toEqual(['http://127.0.0.1:8188']);
    expect(config.workflowDir).toBe('workflows');
    expect(config.uploadMaxBytes).toBe(104_857_600);
    expect(config.logLevel).toBe('info');
    expect(config.dataDir).toBe('data');
  });

  test('reads process.env when called without an argument', () => {
    const saved = process.env.PORT;
    process.env.PORT = '8123';
    try {
      expect(loadConfig().port).toBe(8123);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });
});

describe('loadConfig values', () => {
  test('string settings are taken as given, trimmed', () => {
    const config = loadConfig({
      HOST: ' 0.0.0.0 ',
      WORKFLOW_DIR: '/srv/workflows',
      WORKFLOW_ALIAS: 'aliases.json',
      CURRENT_STATE: '/var/lib/bridge/state.json',
      UPLOAD_DIR: '/tmp/up',
      DATA_DIR: 'db',
    });
    expect(config).toMatchObject({
      host: '0.0.0.0',
      workflowDir: '/srv/workflows',
      workflowAlias: 'aliases.json',
      currentState: '/var/lib/bridge/state.json',
      uploadDir: '/tmp/up',
      dataDir: 'db',
    });
  });

  test('PORT accepts the whole range and surrounding spaces', () => {
    expect(loadConfig({ PORT: '0' }).port).toBe(0);
    expect(loadConfig({ PORT: '65535' }).port).toBe(65535);
    expect(loadConfig({ PORT: ' 9000 ' }).port).toBe(9000);
  });

  test('UPLOAD_MAX_PIXELS is megapixels, turned into whole pixels; 100 by default', () => {
    expect(loadConfig({}).uploadMaxPixels).toBe(100_000_000);
    expect(loadConfig({ UPLOAD_MAX_PIXELS: '64' }).uploadMaxPixels).toBe(64_000_000);
    expect(loadConfig({ UPLOAD_MAX_PIXELS: '0.0001' }).uploadMaxPixels).toBe(100);
    expect(configProblem({ UPLOAD_MAX_PIXELS: '0' })).toContain('UPLOAD_MAX_PIXELS="0" is not a number');
    expect(configProblem({ UPLOAD_MAX_PIXELS: 'lots' })).toContain('UPLOAD_MAX_PIXELS');
  });

  test('UPLOAD_MAX_SIZE is megabytes, turned into whole bytes', () => {
    expect(loadConfig({ UPLOAD_MAX_SIZE: '1' }).uploadMaxBytes).toBe(1_048_576);
    expect(loadConfig({ UPLOAD_MAX_SIZE: '0.5' }).uploadMaxBytes).toBe(524_288);
    expect(loadConfig({ UPLOAD_MAX_SIZE: '2.5' }).uploadMaxBytes).toBe(2_621_440);
    expect(loadConfig({ UPLOAD_MAX_SIZE: '10000' }).uploadMaxBytes).toBe(10_000 * 1_048_576);
    const tiny = loadConfig({ UPLOAD_MAX_SIZE: '0.001' }).uploadMaxBytes;
    expect(tiny).toBe(1049);
    expect(Number.isInteger(tiny)).toBe(true);
  });

  test('second-based settings become milliseconds', () => {
    const config = loadConfig({
      HEARTBEAT_INTERVAL: '2.5',
      DISCONNECT_GRACE: '0',
      HEALTH_INTERVAL: '0.25',
      BACKEND_TIMEOUT: '30',
    });
    expect(config.heartbeatMs).toBe(2500);
    expect(config.disconnectGraceMs).toBe(0);
    expect(config.healthIntervalMs).toBe(250);
    expect(config.backendTimeoutMs).toBe(30_000);
  });

  test('integer settings', () => {
    const config = loadConfig({ BACKEND_PREFETCH: '0', HEALTH_FAILURES: '5' });
    expect(config.prefetch).toBe(0);
    expect(config.healthFailures).toBe(5);
  });

  test.each(['debug', 'info', 'warn', 'error', 'silent'] as const)('LOG_LEVEL=%s is accepted', (level) => {
    expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
  });

  test('LOG_FORMAT is json unless pretty is asked for', () => {
    expect(loadConfig({}).logFormat).toBe('json');
    expect(loadConfig({ LOG_FORMAT: ' ' }).logFormat).toBe('json');
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
  });
});

describe('COMFYUI_SERVERS', () => {
  test('host:port entries get an http scheme', () => {
    expect(loadConfig({ COMFYUI_SERVERS: '10.0.0.5:8188' }).comfyServers).toEqual(['http://10.0.0.5:8188']);
  });

  test('a list keeps its order and normalises every form', () => {
    const config = loadConfig({
      COMFYUI_SERVERS: 'gpu1:8188, http://gpu2:8188/ ,https://gpu3.example.com:8443,  HTTP://GPU4:9000',
    });
    expect(config.comfyServers).toEqual([
      'http://gpu1:8188',
      'http://gpu2:8188',
      'https://gpu3.example.com:8443',
      'http://gpu4:9000',
    ]);
  });

  test('empty entries between commas are ignored', () => {
    expect(loadConfig({ COMFYUI_SERVERS: ',a:1,, ,b:2,' }).comfyServers).toEqual(['http://a:1', 'http://b:2']);
  });

  test('a list with only separators names no server', () => {
    expect(configProblem({ COMFYUI_SERVERS: ' , ,' })).toContain('COMFYUI_SERVERS names no server');
  });

  test('a bad entry is named in the error', () => {
    const message = configProblem({ COMFYUI_SERVERS: 'gpu1:8188,gpu2' });
    expect(message).toContain('COMFYUI_SERVERS');
    expect(message).toContain('"gpu2"');
    expect(message).not.toContain('gpu1');
  });

  test('every bad entry is listed, and "names no server" is not added on top', () => {
    const message = configProblem({ COMFYUI_SERVERS: 'ftp://a:21, b:notaport, http://c:8188/path' });
    expect(message).toContain('"ftp://a:21"');
    expect(message).toContain('"b:notaport"');
    expect(message).toContain('"http://c:8188/path"');
    expect(message).not.toContain('names no server');
  });

  test('the same server twice is an error, even when written differently', () => {
    expect(configProblem({ COMFYUI_SERVERS: 'a:8188,a:8188' })).toContain('COMFYUI_SERVERS lists http://a:8188 more than once');
    expect(configProblem({ COMFYUI_SERVERS: '127.0.0.1:8188, http://127.0.0.1:8188/' })).toContain(
      'http://127.0.0.1:8188 more than once',
    );
    expect(configProblem({ COMFYUI_SERVERS: 'HOST:80,http://host:80/' })).toContain('http://host more than once');
  });

  test('the same host on different ports or schemes is not a duplicate', () => {
    expect(loadConfig({ COMFYUI_SERVERS: 'a:8188,a:8189,https://a:8188' }).comfyServers).toEqual([
      'http://a:8188',
      'http://a:8189',
      'https://a:8188',
    ]);
  });
});

describe('bad values throw a ConfigError that names the setting', () => {
  test.each([
    ['PORT', 'eighty'],
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['PORT', 'NaN'],
    ['UPLOAD_MAX_SIZE', '0'],
    ['UPLOAD_MAX_SIZE', '-5'],
    ['UPLOAD_MAX_SIZE', '10001'],
    ['UPLOAD_MAX_SIZE', '100MB'],
    ['UPLOAD_MAX_SIZE', 'Infinity'],
    ['BACKEND_PREFETCH', '65'],
    ['BACKEND_PREFETCH', '1.5'],
    ['HEARTBEAT_INTERVAL', '0'],
    ['HEARTBEAT_INTERVAL', '3601'],
    ['DISCONNECT_GRACE', '-1'],
    ['HEALTH_INTERVAL', 'fast'],
    ['BACKEND_TIMEOUT', '0'],
    ['HEALTH_FAILURES', '0'],
    ['HEALTH_FAILURES', '101'],
    ['HEALTH_FAILURES', '2.5'],
  ])('%s=%s', (name, value) => {
    const message = configProblem({ [name]: value });
    expect(message).toContain(`${name}=${JSON.stringify(value)}`);
  });

  test('the message says what kind of value is expected and its range', () => {
    expect(configProblem({ PORT: 'x' })).toContain('PORT="x" is not an integer between 0 and 65535');
    expect(configProblem({ UPLOAD_MAX_SIZE: '0' })).toContain('UPLOAD_MAX_SIZE="0" is not a number between 0.001 and 10000');
  });

  test('the raw value is shown trimmed', () => {
    expect(configProblem({ PORT: '  abc  ' })).toContain('PORT="abc"');
  });

  test.each(['verbose', 'INFO', 'trace'])('LOG_LEVEL=%s', (level) => {
    const message = configProblem({ LOG_LEVEL: level });
    expect(message).toContain(`LOG_LEVEL=${JSON.stringify(level)}`);
    expect(message).toContain('debug, info, warn, error, silent');
  });

  test.each(['text', 'JSON', 'colour'])('LOG_FORMAT=%s', (format) => {
    const message = configProblem({ LOG_FORMAT: format });
    expect(message).toContain(`LOG_FORMAT=${JSON.stringify(format)}`);
    expect(message).toContain('json, pretty');
  });

  test('several problems are all listed, one per line', () => {
    const message = configProblem({
      PORT: 'x',
      COMFYUI_SERVERS: 'nope',
      LOG_LEVEL: 'loud',
      UPLOAD_MAX_SIZE: '0',
      HEALTH_FAILURES: '0',
    });
    const lines = message.split('\n');
    expect(lines[0]).toBe('invalid configuration:');
    const problems = lines.slice(1);
    expect(problems).toHaveLength(5);
    for (const line of problems) expect(line.startsWith('  - ')).toBe(true);
    for (const name of ['PORT', 'COMFYUI_SERVERS', 'LOG_LEVEL', 'UPLOAD_MAX_SIZE', 'HEALTH_FAILURES']) {
      expect(problems.filter((l) => l.includes(name))).toHaveLength(1);
    }
  });

  test('METRICS_TOKEN must be a long token without spaces; unset, it is undefined', () => {
    expect(configProblem({ METRICS_TOKEN: 'short' })).toContain('METRICS_TOKEN is shorter than 16 characters');
    expect(configProblem({ METRICS_TOKEN: 'a long token with spaces' })).toContain('METRICS_TOKEN');
    expect(loadConfig({ METRICS_TOKEN: ' scrape-token-0123456789 ' }).metricsToken).toBe('scrape-token-0123456789');
    expect(loadConfig({}).metricsToken).toBeUndefined();
  });

  test('a good setting next to a bad one is not reported', () => {
    const message = configProblem({ PORT: '8080', HEALTH_INTERVAL: 'soon' });
    expect(message).toContain('HEALTH_INTERVAL');
    expect(message).not.toContain('PORT');
  });
});

describe('parseServer', () => {
  test.each([
    ['127.0.0.1:8188', 'http://127.0.0.1:8188'],
    ['localhost:8188', 'http://localhost:8188'],
    ['gpu-box.lan:8188', 'http://gpu-box.lan:8188'],
    ['http://127.0.0.1:8188', 'http://127.0.0.1:8188'],
    ['http://127.0.0.1:8188/', 'http://127.0.0.1:8188'],
    ['https://comfy.example.com:8443', 'https://comfy.example.com:8443'],
    ['https://comfy.example.com:8443/', 'https://comfy.example.com:8443'],
    ['HTTP://GPU1:8188', 'http://gpu1:8188'],
    ['[::1]:8188', 'http://[::1]:8188'],
    ['http://[::1]:8188/', 'http://[::1]:8188'],
  ])('%s → %s', (entry, expected) => {
    expect(parseServer(entry)).toBe(expected);
  });

  test('an explicit default port is accepted and normalised away', () => {
    expect(parseServer('host:80')).toBe('http://host');
    expect(parseServer('http://host:80/')).toBe('http://host');
    expect(parseServer('https://host:443')).toBe('https://host');
  });

  test.each([
    [''],
    ['localhost'],
    ['http://localhost'],
    ['https://example.com/'],
    ['ftp://host:21'],
    ['ws://host:8188'],
    ['http://host:8188/api'],
    ['http://host:8188//'],
    ['host:8188?x=1'],
    ['host:8188#frag'],
    ['host:port'],
    ['host:99999'],
    ['host:-1'],
    [':8188'],
    ['http://:8188'],
    ['host: 8188'],
  ])('%j is rejected', (entry) => {
    expect(parseServer(entry)).toBeUndefined();
  });
});

describe('priorities and fair share', () => {
  const KEYS = 'alice:alice-key-0000000001,bob:bob-key-000000000002';

  test('defaults: fair share on, normal by default and at most', () => {
    expect(loadConfig({})).toMatchObject({ fairShare: true, priorities: { defaultPriority: 'normal', maxPriority: 'normal', keys: {} } });
  });

  test('the settings are read, tiers in any case', () => {
    const config = loadConfig({ API_KEYS: KEYS, FAIR_SHARE: 'off', PRIORITY_DEFAULT: 'LOW', PRIORITY_MAX: 'high', KEY_LIMITS: 'alice:max_jobs=10, *:max_priority=normal' });
    expect(config.fairShare).toBe(false);
    expect(config.priorities).toEqual({ defaultPriority: 'low', maxPriority: 'high', keys: { alice: { maxJobs: 10 }, '*': { maxPriority: 'normal' } } });
  });

  test('every bad value is named', () => {
    const message = configProblem({ API_KEYS: KEYS, PRIORITY_DEFAULT: 'urgent', PRIORITY_MAX: '2', KEY_LIMITS: 'carol:max_jobs=1' });
    expect(message).toMatch(/PRIORITY_DEFAULT="urgent" is not one of high, normal, low/);
    expect(message).toMatch(/PRIORITY_MAX="2" is not one of high, normal, low/);
    expect(message).toMatch(/KEY_LIMITS names "carol", which is no API key's name/);
  });

  test('a default above the highest allowed is refused', () => {
    expect(configProblem({ PRIORITY_DEFAULT: 'high' })).toMatch(/PRIORITY_DEFAULT makes jobs sent without a key default to high, above the highest priority allowed \(normal\)/);
  });
});

describe('routing settings', () => {
  test('labels after an address in COMFYUI_SERVERS; a bad one is named', () => {
    const config = loadConfig({ COMFYUI_SERVERS: 'gpu1:8188#sdxl+video,http://u:p@gpu2:8188#flux,gpu3:8188' });
    expect(config.backends.map((b) => [b.url, b.labels])).toEqual([
      ['http://gpu1:8188', ['sdxl', 'video']],
      ['http://gpu2:8188', ['flux']],
      ['http://gpu3:8188', []],
    ]);
    expect(config.backends[1].credentials).toEqual({ username: 'u', password: 'p' });
    expect(configProblem({ COMFYUI_SERVERS: 'gpu1:8188#bad label' })).toContain('label "bad label"');
  });

  test('CAPABILITY_REFRESH in seconds (0: only on connect); ROUTING_FILE read and checked', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    expect(loadConfig({}).capabilityRefreshMs).toBe(300_000);
    expect(loadConfig({ CAPABILITY_REFRESH: '0' }).capabilityRefreshMs).toBe(0);
    const dir = await mkdtemp(path.join(tmpdir(), 'routing-'));
    try {
      const file = path.join(dir, 'routing.json');
      await writeFile(file, JSON.stringify({ workflows: { txt2img: ['sdxl'] }, models: { 'a.safetensors': ['http://gpu1:8188'] } }));
      const config = loadConfig({ ROUTING_FILE: file });
      expect(config.pins.workflows.get('txt2img')).toEqual(['sdxl']);
      expect(config.pins.models.get('a.safetensors')).toEqual(['http://gpu1:8188']);
      await writeFile(file, '{"workflows": 3}');
      expect(configProblem({ ROUTING_FILE: file })).toContain('"workflows" must be an object');
      expect(configProblem({ ROUTING_FILE: path.join(dir, 'none.json') })).toContain('ROUTING_FILE');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
