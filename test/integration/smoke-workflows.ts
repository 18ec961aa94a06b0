import { proxyActivities } from '@temporalio/workflow';

const { shout } = proxyActivities<{ shout(s: string): Promise<string> }>({ startToCloseTimeout: '10s' });

export async function smokeWorkflow(name: string): Promise<string> {
  return `${await shout(name)}!`;
}
