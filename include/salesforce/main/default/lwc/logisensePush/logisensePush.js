// Headless quick action "Push to LogiSense" on Opportunity and Account record pages.
import { LightningElement, api } from 'lwc';
import { ShowToastEvent } from 'lightning/platformShowToastEvent';
import pushOpportunity from '@salesforce/apex/LogiSenseOpportunityPushController.push';
import pushAccount from '@salesforce/apex/LogiSenseAccountPushController.push';

export default class LogisensePush extends LightningElement {
    @api recordId;
    @api objectApiName;

    @api async invoke() {
        const push = this.objectApiName === 'Account' ? pushAccount : pushOpportunity;
        const argument = this.objectApiName === 'Account' ? { accountId: this.recordId } : { opportunityId: this.recordId };
        try {
            await push(argument);
            this.dispatchEvent(new ShowToastEvent({
                title: 'Sent to LogiSense',
                message: 'A LogiSense request was queued. Its status appears in the LogiSense Requests related list.',
                variant: 'success'
            }));
        } catch (error) {
            const message = (error && error.body && error.body.message) || 'The request could not be queued.';
            this.dispatchEvent(new ShowToastEvent({ title: 'Not sent to LogiSense', message, variant: 'error' }));
        }
    }
}
