"""``dkimtool milter``: the classic dkim-filter for sendmail and Postfix.

``runtime`` holds the per-message work (signing with the streaming Signer, verifying, the
header plan from ``dkimtool.core.milter_policy``) and never imports pymilter; ``adapter``
is the only module that does, and it is imported only when the milter runs.
"""
