import { sqliteTestDatabase } from '../helpers/databases.ts';
import { storeConformance } from './store-conformance.ts';

storeConformance('SQLite', async () => sqliteTestDatabase(), null);
