"""Write-audit-publish: the checked candidate becomes the marts; the audit trail from figure to file."""
