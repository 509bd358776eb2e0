// The operator's dashboard: a page served by the bridge, its live feed and its actions.
export { DashboardFeed, FEED_OPTIONS } from './feed.js';
export type { FeedOptions } from './feed.js';
export { dashboardApi, dashboardPage } from './routes.js';
export type { BackendInfo, BackendState } from './backends.js';
export type { Delta, Snapshot } from './view.js';
